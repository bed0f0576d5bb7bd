"""NanoBench command line: generate videos for suites of scene specs, score them, print and save a report.

    python -m mimir.bench --suite prompts/bench/heldout/color.jsonl --model mimir --out report.json
    python -m mimir.bench --suite prompts/bench/train/count.jsonl --ground-truth --limit 20

Every suite is validated first; a bad line is named and nothing is generated. The model is loaded through
`mimir.presets.load_pipelines` only when needed, so scoring ground truth works without the core installed.
"""

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from mimir.bench.report import aggregate, environment, format_table
from mimir.bench.scorer import score_video
from mimir.bench.suite import load_suites, spec_seed
from mimir.world.spec import SceneSpec


# used when the pipelines publish no `defaults`; the nano world's video size (NANO_WORLD.md)
FALLBACK_DEFAULTS = {"num_frames": 9, "height": 64, "width": 64, "num_inference_steps": 20, "guidance_scale": 6.0}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mimir.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", action="append", required=True, help="suite file (JSONL); repeat for several")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", choices=("cogvideox", "mimir"), help="which pipeline of the nano preset generates")
    src.add_argument("--ground-truth", action="store_true", help="score the renderer's videos instead of a model's")
    p.add_argument("--fusion-type", default=None, help="token fuser ablation (mimir model only)")
    p.add_argument("--weights", default=None, help="directory of Mimir weights (default: the shipped nano weights)")
    p.add_argument("--videos-per-prompt", type=int, default=1, help="videos per spec, each with its own seed")
    p.add_argument("--limit", type=int, default=None, help="score only the first N specs of each suite")
    p.add_argument("--num-inference-steps", type=int, default=None)
    p.add_argument("--guidance-scale", type=float, default=None)
    p.add_argument("--seed", type=int, default=0, help="offset added to every spec's fixed seed")
    p.add_argument("--out", default=None, help="write the report JSON here")
    return p


def video_seed(spec: SceneSpec, k: int, offset: int) -> int:
    """Seed of the k-th video of a spec: the spec's fixed seed, moved by k and the run's offset."""
    return (spec_seed(spec) + 7919 * k + offset) % 2**32


def split_of(path: str) -> str:
    """'train' / 'heldout' from a suite path's folders (prompts/bench/<split>/<dimension>.jsonl), else ''."""
    parts = Path(path).parts
    return next((s for s in ("heldout", "train") if s in parts), "")


class GroundTruthSource:
    """Videos from the world's renderer (the scorer's reference)."""

    def __init__(self, defaults: dict[str, Any]):
        self.defaults = defaults
        self.trained = None

    def __call__(self, spec: SceneSpec, seed: int) -> np.ndarray:
        from mimir.world.render import render

        d = self.defaults
        return render([spec], [seed], d["num_frames"], d["height"], d["width"])[0].numpy()  # (F, H, W, 3)


class ModelSource:
    """Videos from a pipeline of the nano preset (lazy import: the scorer does not need the core)."""

    def __init__(self, args: argparse.Namespace):
        import torch

        from mimir.presets import load_pipelines

        self.torch = torch
        pipes = load_pipelines(preset="nano", mimir_weights=args.weights, fusion_type=args.fusion_type)
        self.pipe = getattr(pipes, args.model)
        # untrained (random) nano weights are legal but their scores mean nothing: the report says which it was
        self.trained = getattr(pipes, "trained", None)
        self.defaults = {**FALLBACK_DEFAULTS, **(getattr(pipes, "defaults", None) or {})}
        if args.num_inference_steps is not None:
            self.defaults["num_inference_steps"] = args.num_inference_steps
        if args.guidance_scale is not None:
            self.defaults["guidance_scale"] = args.guidance_scale

    def __call__(self, spec: SceneSpec, seed: int) -> np.ndarray:
        d = self.defaults
        out = self.pipe(
            prompt=spec.prompt,
            num_frames=d["num_frames"],
            height=d["height"],
            width=d["width"],
            num_inference_steps=d["num_inference_steps"],
            guidance_scale=d["guidance_scale"],
            generator=self.torch.Generator().manual_seed(seed),
            output_type="np",
        )
        return np.asarray(out.frames)[0]  # (F, H, W, 3)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Validate suites, generate, score; returns the report (settings, environment, per-suite summaries, videos)."""
    # 1. Validate every suite before anything is loaded or generated
    suites = load_suites(args.suite)
    if args.limit is not None:
        suites = {p: specs[: args.limit] for p, specs in suites.items()}

    # 2. Video source
    if args.ground_truth:
        source = GroundTruthSource(dict(FALLBACK_DEFAULTS))
    else:
        if args.fusion_type is not None and args.model != "mimir":
            raise ValueError(f"--fusion-type={args.fusion_type!r} applies to --model mimir only")
        source = ModelSource(args)

    # 3. Generate and score
    videos: list[dict[str, Any]] = []
    started = time.perf_counter()
    for path, specs in suites.items():
        for spec in specs:
            for k in range(args.videos_per_prompt):
                seed = video_seed(spec, k, args.seed)
                result = score_video(source(spec, seed), spec)
                videos.append({**result, "suite": path, "split": split_of(path), "seed": seed, "prompt": spec.prompt})

    # 4. Summaries per suite file
    summaries = {
        path: {"split": split_of(path), "summary": aggregate([v for v in videos if v["suite"] == path])}
        for path in suites
    }
    settings = {k: v for k, v in vars(args).items()}
    settings["source"] = "ground_truth" if args.ground_truth else args.model
    settings["video"] = source.defaults
    settings["trained_weights"] = source.trained
    return {
        "settings": settings,
        "environment": environment(),
        "seconds": round(time.perf_counter() - started, 2),
        "suites": summaries,
        "videos": videos,
    }


def cli_main(argv: list[str]) -> int:
    """Entry point; returns the exit status (0 ok, 2 bad input)."""
    args = build_parser().parse_args(argv)
    if args.videos_per_prompt < 1:
        print(f"error: --videos-per-prompt={args.videos_per_prompt}: must be >= 1", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print(f"error: --limit={args.limit}: must be >= 1", file=sys.stderr)
        return 2
    try:
        report = run(args)
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if report["settings"]["trained_weights"] is False:
        print("note: the pipelines run UNTRAINED (seeded random) weights; these scores say nothing about Mimir")
    for path, s in report["suites"].items():
        print(format_table(s["summary"], title=f"\n{path}" + (f" ({s['split']})" if s["split"] else "")))
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(report, indent=1))
        print(f"\nreport: {args.out}")
    return 0
