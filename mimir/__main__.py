"""Command line: `python -m mimir {generate,compare,tokens,bench,train,study} ...`.

Each subcommand that lives in its own module (bench, train, study, tokens) owns its argparse; this file only
dispatches, so that `python -m mimir generate` never imports the training or benchmark code.
"""

import argparse
import importlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

from . import __version__


# The generation path's imports sit in the functions that use them: measured with `python -c "import ..."` on the
# 2-core box while quiet (up to 16 s while busy), mimir.presets takes 6.7 s, mimir.generation 6.7 s,
# mimir.bench.report 2.1 s, mimir.video 1.6 s, this module 0.02 s. At the top they would slow `--help` and the
# delegated commands (`study report` must not load torch).
DELEGATED = {
    "tokens": "mimir.tokens",
    "bench": "mimir.bench.cli",
    "train": "mimir.train",
    "study": "mimir.study.analysis",
}


def _add_generation_args(parser: argparse.ArgumentParser) -> None:
    from .fast import FAST_MODES
    from .offload import MEMORY_MODES
    from .presets import PRESETS  # 6.7 s: only generate and compare build these flags

    parser.add_argument("--prompt", required=True)
    parser.add_argument("--negative-prompt", default="")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--num-frames", type=int, default=None)
    parser.add_argument("--height", type=int, default=None)
    parser.add_argument("--width", type=int, default=None)
    parser.add_argument("--num-inference-steps", type=int, default=None)
    parser.add_argument("--guidance-scale", type=float, default=None)
    parser.add_argument("--preset", default="nano", choices=list(PRESETS))
    parser.add_argument("--mimir-weights", default=None, help="folder with transformer/ and token_fuser/")
    parser.add_argument(
        "--base-model", default=None, help="cogvideox-5b: CogVideoX Hub id or diffusers folder (THUDM/CogVideoX-5b)"
    )
    parser.add_argument(
        "--llm", default=None, help="cogvideox-5b: LLM Hub id or folder (microsoft/Phi-3.5-mini-instruct)"
    )
    parser.add_argument("--memory", default="none", choices=MEMORY_MODES)
    parser.add_argument(
        "--fast",
        nargs="?",
        const="on",
        default="off",
        choices=FAST_MODES,
        help="'on' (or bare --fast): step cache on both DiTs, torch.compile on CUDA (mimir/fast.py); 'fp8': also "
        "float8 matmuls (CUDA >= 8.9, torchao; experimental, its quality guard has not passed); default off",
    )
    parser.add_argument("--vae-tiling", action="store_true")
    parser.add_argument("--vae-slicing", action="store_true")
    parser.add_argument("--fps", type=int, default=8)
    parser.add_argument("--upscale", type=int, default=4, help="nearest-neighbour upscaling of the written video")


def _settings(args, pipes):
    from .generation import GenerationSettings  # 6.7 s, see the note above DELEGATED

    values = {k: getattr(args, k) for k in ("num_frames", "height", "width", "num_inference_steps", "guidance_scale")}
    values = {k: (pipes.defaults[k] if v is None else v) for k, v in values.items()}
    return GenerationSettings(
        prompt=args.prompt, negative_prompt=args.negative_prompt, seed=args.seed, **values
    ).validate(pipes.cogvideox, pipes.mimir)


def _load(args):
    from .loading import load_pipelines  # 6.7 s, see the note above DELEGATED

    pipes = load_pipelines(
        args.preset,
        mimir_weights=args.mimir_weights,
        memory=args.memory,
        vae_tiling=args.vae_tiling,
        vae_slicing=args.vae_slicing,
        base_model=args.base_model,
        llm=args.llm,
        fast=args.fast,
    )
    if not pipes.trained:
        print("WARNING: the nano video models are UNTRAINED (random weights): the videos are noise.", file=sys.stderr)
    return pipes


def _write(result, path: Path, args) -> Path:
    from .video import save_gif, save_mp4  # 1.6 s, see the note above DELEGATED

    save = save_gif if path.suffix.lower() == ".gif" else save_mp4
    return save(result.frames, path, fps=args.fps, upscale=args.upscale)


def _record(result, pipes, path: Path) -> dict:
    return {
        "model": result.model,
        "video": str(path),
        "seconds": round(result.seconds, 3),
        "peak_memory_bytes": result.peak_memory_bytes,
        "frames_shape": list(result.frames.shape),
    }


def _environment(pipes) -> dict:
    from .bench.report import environment  # 2.1 s, see the note above DELEGATED

    return {
        "preset": pipes.preset,
        "trained": pipes.trained,
        "memory": pipes.memory,
        "fast": None if pipes.fast is None else asdict(pipes.fast),
        "mimir_fusion_type": pipes.mimir.token_fuser.config.fusion_type,
        "environment": {**environment(), "mimir": __version__},
    }


def cmd_generate(args) -> int:
    from .generation import generate  # 6.7 s, see the note above DELEGATED

    if args.model not in ("cogvideox", "mimir"):
        raise ValueError(f"--model must be 'cogvideox' or 'mimir', got {args.model!r}")
    pipes = _load(args)
    settings = _settings(args, pipes)
    result = generate(pipes.pipeline(args.model), settings, args.model)
    path = _write(result, Path(args.out), args)
    print(
        json.dumps({**_record(result, pipes, path), "settings": settings.as_dict(), **_environment(pipes)}, indent=2)
    )
    return 0


def cmd_compare(args) -> int:
    from .generation import compare  # 6.7 s, see the note above DELEGATED

    pipes = _load(args)
    settings = _settings(args, pipes)
    out_dir = Path(args.out_dir)
    results = compare(pipes, settings)
    records = {name: _record(r, pipes, _write(r, out_dir / f"{name}.mp4", args)) for name, r in results.items()}
    report = {"settings": settings.as_dict(), "results": records, **_environment(pipes)}
    (out_dir / "compare.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]])
        return module.cli_main(argv[1:])

    parser = argparse.ArgumentParser(prog="python -m mimir", description=__doc__)
    sub = parser.add_subparsers(
        dest="command", required=True, metavar="{generate,compare," + ",".join(DELEGATED) + "}"
    )
    gen = sub.add_parser("generate", help="one video from one model")
    cmp_ = sub.add_parser("compare", help="CogVideoX and Mimir on the same prompt and seed")
    # Their flags list the presets (6.7 s to import): `python -m mimir --help` and the other commands do without them.
    if argv and argv[0] in ("generate", "compare"):
        _add_generation_args(gen)
        gen.add_argument("--model", default="mimir", choices=["cogvideox", "mimir"])
        gen.add_argument("--out", required=True, help="output .mp4 or .gif")
        gen.set_defaults(func=cmd_generate)
        _add_generation_args(cmp_)
        cmp_.add_argument("--out-dir", required=True)
        cmp_.set_defaults(func=cmd_compare)
    for name in DELEGATED:
        sub.add_parser(name, help=f"see `python -m mimir {name} --help`")
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
