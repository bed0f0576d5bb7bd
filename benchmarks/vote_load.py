"""Vote throughput and latency of the app under concurrent clients, rows lost, and the app's peak memory under the
longest prompt it accepts (issue 11).

Starts `python app.py` (the nano preset, CPU) in its own process on loopback with a fresh vote file, registers
`clients * votes` open trials in its trial file beforehand (no generation: what is measured is the vote path, and
the "watched both" wait is zero for them), then:

1. `--clients` gradio_client clients vote `--votes` times each, all at once: votes per second, p50 / p99 latency of
   one vote (client call to acknowledgement), rows lost (acknowledged ballots missing from the file; must be 0);
2. the app's peak RSS (sampled every 10 ms, the app process and its children) while it serves /generate with the
   longest allowed prompt as prompt and negative prompt, and /tokens with the most prompts allowed, each the longest,
   K = 16 answers; and how fast a 100 kB prompt is refused.

    python benchmarks/vote_load.py --clients 50 --votes 20
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
from gradio_client import Client

from mimir import tokens
from mimir.loading import load_pipelines
from mimir.memory import PeakRSS
from mimir.study import trials, votes
from mimir.study.trial_store import TrialStore, trial_store_path
from mimir.study.vote_store import VoteStore


ROOT = Path(__file__).resolve().parents[1]
BALLOT = ("A", "tie", "both_bad")
SETTINGS = {
    "negative_prompt": "",
    "num_frames": 17,
    "height": 64,
    "width": 64,
    "num_inference_steps": 20,
    "guidance_scale": 4.0,
}
RSS_INTERVAL = 0.01  # seconds between samples of the app's RSS (its process and children)
WORDS = "a red circle to the left of a blue square and three yellow triangles moving right".split()


def longest_prompt(pipe) -> str:
    """The longest prompt (in tokens, then characters) made of study words that the pipeline accepts."""
    words: list[str] = []
    while True:
        candidate = " ".join([*words, WORDS[len(words) % len(WORDS)]])
        try:
            pipe.check_prompt_lengths([candidate])
        except ValueError:
            return " ".join(words)
        words.append(WORDS[len(words) % len(WORDS)])


def start_app(tmp: Path, port: int, votes_per_minute: int) -> subprocess.Popen:
    log = (tmp / "app.log").open("w")
    cmd = [sys.executable, str(ROOT / "app.py"), "--port", str(port), "--votes", str(tmp / "votes.csv")]
    cmd += ["--out-dir", str(tmp / "out"), "--votes-per-minute", str(votes_per_minute)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    return wait_until_serving(proc, port, tmp / "app.log", timeout_s=300)


def wait_until_serving(proc: subprocess.Popen, port: int, log: Path, timeout_s: float) -> subprocess.Popen:
    """`proc` once its page answers 200; RuntimeError with the end of its log if it exits, killed past `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(log.read_text()[-3000:])
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.kill()
    raise RuntimeError(f"the app did not start within {timeout_s:.0f} s")


def vote_load(url: str, ids: list[str], clients: int) -> tuple[list[float], list[str], list[str], float]:
    latencies: list[float] = []
    acked: list[str] = []
    errors: list[str] = []
    lock = threading.Lock()

    def one_client(mine: list[str]) -> None:
        client = Client(url, verbose=False)
        try:
            for trial_id in mine:
                start = time.perf_counter()
                try:
                    client.predict(trial_id, *BALLOT, api_name="/vote")
                except Exception as err:
                    with lock:
                        errors.append(repr(err))
                    continue
                with lock:
                    latencies.append(time.perf_counter() - start)
                    acked.append(trial_id)
        finally:
            client.close()

    threads = [threading.Thread(target=one_client, args=(ids[i::clients],)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return latencies, acked, errors, time.perf_counter() - start


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


def main(args: argparse.Namespace) -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="vote-load-"))
    n = args.clients * args.votes
    factory = trials.TrialFactory(["a red circle to the left of a blue square"], seed=0)
    store = TrialStore(trial_store_path(tmp / "votes.csv")).open()
    ids = []
    for _ in range(n):
        trial = factory.new_trial(SETTINGS, preset="nano")
        store.add(trial, watch_seconds=0.0)
        ids.append(trial.trial_id)
    pipe = load_pipelines("nano").mimir  # only for its prompt rule: the longest prompt it accepts
    prompt = longest_prompt(pipe)
    port = args.port
    proc = start_app(tmp, port, votes_per_minute=max(args.votes, 1))
    url = f"http://127.0.0.1:{port}/"
    try:
        latencies, acked, errors, seconds = vote_load(url, ids, args.clients)
        on_disk = VoteStore(tmp / "votes.csv").open().read()
        lost = sorted(set(acked) - set(on_disk["trial_id"]))
        client = Client(url, verbose=False)
        baseline = PeakRSS(proc.pid, children=True).rss()
        with PeakRSS(proc.pid, children=True, interval=RSS_INTERVAL) as generate_rss:
            start = time.perf_counter()
            client.predict(prompt, prompt, 0, 17, 64, 64, 20, 4.0, api_name="/generate")
            generate_seconds = time.perf_counter() - start
        many = "\n".join([prompt] * tokens.MAX_PROMPTS)
        with PeakRSS(proc.pid, children=True, interval=RSS_INTERVAL) as tokens_rss:
            start = time.perf_counter()
            client.predict(many, prompt, tokens.K_RANGE[1], 10, 0, api_name="/tokens")
            tokens_seconds = time.perf_counter() - start
        start = time.perf_counter()
        try:
            client.predict("a red circle " * 8000, "", 4, 10, 0, api_name="/tokens")
            refused = "accepted"
        except Exception as err:
            refused = str(err)[:120]
        refuse_seconds = time.perf_counter() - start
        client.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
        shutil.rmtree(tmp, ignore_errors=True)
    result = {
        "clients": args.clients,
        "votes_per_client": args.votes,
        "votes_acknowledged": len(acked),
        "vote_errors": len(errors),
        "first_error": errors[0] if errors else None,
        "seconds": round(seconds, 2),
        "votes_per_second": round(len(acked) / seconds, 1),
        "latency_p50_ms": round(1000 * percentile(latencies, 50), 1),
        "latency_p99_ms": round(1000 * percentile(latencies, 99), 1),
        "rows_on_disk": len(on_disk),
        "rows_lost": len(lost) * len(votes.CRITERIA),
        "longest_prompt_tokens": pipe.prompt_token_count(prompt),
        "longest_prompt_chars": len(prompt),
        "rss_idle_mib": round(baseline / 2**20),
        "rss_peak_generate_mib": round(generate_rss.peak_bytes / 2**20),
        "generate_seconds": round(generate_seconds, 1),
        "rss_peak_tokens_mib": round(tokens_rss.peak_bytes / 2**20),
        "tokens_seconds": round(tokens_seconds, 1),
        "refused_100kB_prompt_seconds": round(refuse_seconds, 2),
        "refused_100kB_prompt_message": refused,
    }
    print(json.dumps(result, indent=1))
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--votes", type=int, default=20, help="votes per client")
    parser.add_argument("--port", type=int, default=int(os.environ.get("VOTE_LOAD_PORT", "7871")))
    main(parser.parse_args())
