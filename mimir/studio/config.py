"""The studio's typed configuration and the command-line flags that the app and `python -m mimir` share.

Every flag has one definition here; the app reads its defaults from `MIMIR_*` environment variables (a Space's
settings), the CLI from the same variables, so `MIMIR_PRESET=cogvideox-5b` means the same thing everywhere.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, fields
from pathlib import Path


# Votes one client may cast per minute: a real voter needs a generation and two clips per vote, so this is never
# reached by hand (our choice; --votes-per-minute changes it).
VOTES_PER_MINUTE = 12
# Where the votes go on a Hugging Face Space with persistent storage (its disk is reset at every restart otherwise).
SPACE_PERSISTENT_ROOT = Path("/data")


def on_space() -> bool:
    """Whether this process runs on a Hugging Face Space (the platform sets SPACE_ID)."""
    return bool(os.environ.get("SPACE_ID"))


def default_votes_path() -> Path:
    """`votes/votes.csv`, or `/data/votes/votes.csv` on a Space whose persistent storage is attached at /data."""
    from mimir.study.votes import DEFAULT_VOTES

    if on_space() and SPACE_PERSISTENT_ROOT.is_dir() and os.access(SPACE_PERSISTENT_ROOT, os.W_OK):
        return SPACE_PERSISTENT_ROOT / DEFAULT_VOTES
    return DEFAULT_VOTES


def votes_persistence_note(votes_path: str | Path) -> str | None:
    """A plain warning when the votes would be lost at the next restart (a Space without persistent storage)."""
    path = Path(votes_path).resolve()
    if not on_space() or SPACE_PERSISTENT_ROOT in (path, *path.parents):
        return None
    return (
        f"Votes are written to {str(path)!r} on this Space's ephemeral disk and are LOST at the next restart or "
        "rebuild. To keep them, attach persistent storage to the Space (it mounts at /data and the votes go there "
        "by default), or set MIMIR_VOTES to a path under /data."
    )


@dataclass(frozen=True)
class StudioConfig:
    """Everything the studio is started with (the app's flags and their MIMIR_* variables)."""

    preset: str = "nano"
    mimir_weights: str | None = None
    base_model: str | None = None
    llm: str | None = None
    memory: str = "none"
    fast: str = "off"
    votes: str = ""
    study_prompts: str | None = None
    votes_per_minute: int = VOTES_PER_MINUTE
    out_dir: str | None = None
    gpu_max_seconds: int | None = None
    host: str = "127.0.0.1"
    port: int = 7860
    analytics: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> StudioConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in vars(args).items() if k in names})


def _positive_int(what: str):
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of {what}") from None
        if value < 1:
            raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 {what.rstrip('s')}")
        return value

    return parse


def add_model_args(parser: argparse.ArgumentParser) -> None:
    """The flags that choose the models: preset, weights, sources, memory mode, fast mode (app and CLI)."""
    # The registries import torch and diffusers (seconds): only the commands that load models build these flags.
    from mimir.fast import FAST_MODES
    from mimir.offload import MEMORY_MODES
    from mimir.presets import PRESETS

    env = os.environ.get
    parser.add_argument(
        "--preset", default=env("MIMIR_PRESET", "nano"), choices=list(PRESETS), help="model family (default: nano)"
    )
    parser.add_argument(
        "--mimir-weights", default=env("MIMIR_WEIGHTS"), help="folder with transformer/ + token_fuser/"
    )
    parser.add_argument(
        "--base-model",
        default=env("MIMIR_BASE_MODEL"),
        help="cogvideox-5b: CogVideoX Hub id or local diffusers folder (default THUDM/CogVideoX-5b)",
    )
    parser.add_argument(
        "--llm",
        default=env("MIMIR_LLM"),
        help="cogvideox-5b: LLM Hub id or local folder (default microsoft/Phi-3.5-mini-instruct)",
    )
    parser.add_argument(
        "--memory",
        default=env("MIMIR_MEMORY", "none"),
        choices=MEMORY_MODES,
        help="where the weights live while generating (GPU; see the README): %(choices)s; default %(default)s",
    )
    parser.add_argument(
        "--fast",
        nargs="?",
        const="on",
        default=env("MIMIR_FAST", "off"),
        choices=FAST_MODES,
        help="on (or bare --fast): step cache on both DiTs, torch.compile on CUDA (mimir/fast.py); fp8: also float8 "
        "matmuls (CUDA >= 8.9, torchao; experimental, its quality guard has not passed); default off",
    )


def add_app_args(parser: argparse.ArgumentParser) -> None:
    """The app's own flags: the study files and limits, the output folder, the server."""
    env = os.environ.get
    parser.add_argument(
        "--votes",
        default=env("MIMIR_VOTES", str(default_votes_path())),
        help="vote CSV, appended (default: votes/votes.csv; /data/votes/votes.csv on a Space with persistent storage)",
    )
    parser.add_argument("--study-prompts", default=env("MIMIR_STUDY_PROMPTS"), help="study prompt list, one per line")
    parser.add_argument(
        "--votes-per-minute",
        type=_positive_int("votes"),
        default=env("MIMIR_VOTES_PER_MINUTE", str(VOTES_PER_MINUTE)),
        help="votes one client address may cast per minute (default: %(default)s)",
    )
    parser.add_argument(
        "--out-dir",
        default=env("MIMIR_OUT_DIR"),
        help="where the app keeps generated files: it makes a mimir-studio-* folder of its own inside, and removes "
        "only that (default: the temp folder)",
    )
    parser.add_argument(
        "--gpu-max-seconds",
        type=_positive_int("seconds"),  # argparse converts a string default too: the variable is checked alike
        default=env("MIMIR_GPU_MAX_SECONDS"),
        help="refuse generations whose estimated GPU time (mimir/gpu_time.py) exceeds this (ZeroGPU Spaces)",
    )
    parser.add_argument(
        "--analytics",
        action="store_true",
        default=env("MIMIR_ANALYTICS", "") == "1",
        help="let Gradio send its usage analytics (off unless asked for)",
    )
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"))
