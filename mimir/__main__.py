"""Command line: `python -m mimir {generate,compare,tokens,bench,train,study} ...`.

Each subcommand that lives in its own module (bench, train, study, tokens) owns its argparse; this file only
dispatches, so that `python -m mimir generate` never imports the training or benchmark code. `generate` and
`compare` go through the same studio layer as the app (mimir/studio/): one validation, the same verdicts.
"""

import argparse
import importlib
import json
import sys
from dataclasses import asdict
from pathlib import Path

from . import __version__
from .pair import MODEL_LABELS, MODELS


DESCRIPTION = (
    "Mimir Studio from the command line: make videos with CogVideoX and Mimir (an LLM fused with the text encoder, "
    "CVPR 2025), compare both on one prompt and seed with NanoBench verdicts, look at where the text tokens live, "
    "score NanoBench suites, train the nano family and report the user study. The nano preset runs on the CPU, "
    "offline. Run `python -m mimir COMMAND --help` for a command's options."
)
# The generation path's imports sit in the functions that use them: measured with `python -c "import ..."` on the
# 2-core box while quiet (up to 16 s while busy), mimir.presets takes 6.7 s, mimir.generation 6.7 s,
# mimir.bench.report 2.1 s, mimir.video 1.6 s, this module 0.02 s. At the top they would slow `--help` and the
# delegated commands (`study report` must not load torch).
DELEGATED = {
    "tokens": ("mimir.tokens", "where the text tokens live: t-SNE of encoder, LLM and fused tokens (paper Fig. 7)"),
    "bench": ("mimir.bench.cli", "generate and score NanoBench suites (exact text-faithfulness checks)"),
    "train": ("mimir.train", "train the nano VAE, CogVideoX-nano and the Mimir fine-tune and ablations"),
    "study": ("mimir.study.analysis", "user-study tools: `study report --votes FILE` prints the tables"),
}


def _add_generation_args(parser: argparse.ArgumentParser) -> None:
    from .studio.config import add_model_args  # imports the registries (seconds): generate and compare only

    parser.add_argument("--prompt", required=True, help="what the video shows, e.g. 'a red circle moving right'")
    parser.add_argument("--negative-prompt", default="", help="what to steer away from (default: none)")
    parser.add_argument("--seed", type=int, default=0, help="a whole number in 0..2**32-1 (default: %(default)s)")
    for flag, what in (
        ("--num-frames", "frames of the video"),
        ("--height", "frame height in pixels"),
        ("--width", "frame width in pixels"),
        ("--num-inference-steps", "denoising steps"),
    ):
        parser.add_argument(flag, type=int, default=None, help=f"{what} (default: the preset's)")
    parser.add_argument("--guidance-scale", type=float, default=None, help="CFG weight (default: the preset's)")
    add_model_args(parser)
    parser.add_argument("--vae-tiling", action="store_true", help="decode in tiles (less GPU memory)")
    parser.add_argument("--vae-slicing", action="store_true", help="decode one video at a time (less GPU memory)")
    parser.add_argument("--fps", type=int, default=8, help="frames per second of the written video (default: 8)")
    parser.add_argument("--upscale", type=int, default=4, help="nearest-neighbour upscaling of the written video")
    parser.add_argument("--json", action="store_true", help="print the whole JSON record instead of a summary")


def _studio(args):
    from .loading import load_pipelines  # 6.7 s, see the note above DELEGATED
    from .studio.service import Studio

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
    studio = Studio(pipes)
    values = {k: getattr(args, k) for k in ("num_frames", "height", "width", "num_inference_steps", "guidance_scale")}
    settings = studio.settings(
        args.prompt, args.negative_prompt, args.seed, **{k: v for k, v in values.items() if v is not None}
    )
    return studio, settings


def _write(frames, path: Path, args) -> Path:
    from .video import save_gif, save_mp4  # 1.6 s, see the note above DELEGATED

    save = save_gif if path.suffix.lower() == ".gif" else save_mp4
    return save(frames, path, fps=args.fps, upscale=args.upscale)


def _environment(pipes) -> dict:
    from .bench.environment import environment  # 2.1 s, see the note above DELEGATED

    return {
        "preset": pipes.preset,
        "trained": pipes.trained,
        "memory": pipes.memory,
        "fast": None if pipes.fast is None else asdict(pipes.fast),
        "mimir_fusion_type": pipes.mimir.token_fuser.config.fusion_type,
        "environment": {**environment(), "mimir": __version__},
    }


def _summary(out) -> str:
    """One line per model: seconds, memory, verdicts in the app's words (no markdown)."""
    text = out.info.replace("**", "").replace("  \n", "\n    ").replace("\n\n", "\n    ")
    return f"{text}\n    video: {out.video}"


def cmd_generate(args) -> int:
    from .generation import generate  # 6.7 s, see the note above DELEGATED

    studio, settings = _studio(args)
    result = generate(studio.pipes.pipeline(args.model), settings, args.model)
    path = _write(result.frames, Path(args.out), args)
    record = {
        "model": args.model,
        "video": str(path),
        "seconds": round(result.seconds, 3),
        "peak_memory_bytes": result.peak_memory_bytes,
        "peak_memory_kind": result.peak_memory_kind,
        "settings": settings.as_dict(),
        **_environment(studio.pipes),
    }
    print(
        json.dumps(record, indent=2) if args.json else f"{MODEL_LABELS[args.model]}: {path} ({result.seconds:.1f} s)"
    )
    return 0


def cmd_compare(args) -> int:
    studio, settings = _studio(args)
    pair = studio.generate_pair(settings, save=False)
    out_dir = Path(args.out_dir)
    for name, out in pair.outputs.items():
        out.video = str(_write(out.result.frames, out_dir / f"{name}.mp4", args))
        out.files = [out.video]
    report = {**pair.record(), **_environment(studio.pipes)}
    (out_dir / "compare.json").write_text(json.dumps(report, indent=2))
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"{settings.prompt!r}, seed {settings.seed}:")
        print("\n".join(_summary(pair.outputs[m]) for m in MODELS))
        print(f"record: {out_dir / 'compare.json'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in DELEGATED:
        module = importlib.import_module(DELEGATED[argv[0]][0])
        return module.cli_main(argv[1:])

    parser = argparse.ArgumentParser(prog="python -m mimir", description=DESCRIPTION)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    gen = sub.add_parser("generate", help="one video from one model", description="One video from one model.")
    cmp_ = sub.add_parser(
        "compare",
        help="CogVideoX and Mimir on the same prompt and seed, with NanoBench verdicts",
        description="CogVideoX and Mimir on the same prompt, seed and initial noise; writes cogvideox.mp4, "
        "mimir.mp4 and compare.json (settings, seconds, memory, NanoBench verdicts) to --out-dir.",
    )
    # Their flags list the presets (6.7 s to import): `python -m mimir --help` and the other commands do without them.
    if argv and argv[0] in ("generate", "compare"):
        _add_generation_args(gen)
        gen.add_argument("--model", default="mimir", choices=list(MODELS), help="which model (default: mimir)")
        gen.add_argument("--out", required=True, help="output .mp4 or .gif")
        gen.set_defaults(func=cmd_generate)
        _add_generation_args(cmp_)
        cmp_.add_argument("--out-dir", required=True, help="folder for the two videos and compare.json")
        cmp_.set_defaults(func=cmd_compare)
    for name, (_, help_text) in DELEGATED.items():
        sub.add_parser(name, help=help_text, add_help=False)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
