"""NanoBench command line: generate videos for suites of scene specs, score them, print and save a report.

    python -m mimir.bench --suite prompts/bench/heldout/color.jsonl --model mimir --out report.json
    python -m mimir.bench --suite prompts/bench/train/count.jsonl --ground-truth --limit 20
    python -m mimir bench --suite prompts/bench/v2/train/motion_binding.jsonl --counterfactual  # v2: should fail
    python -m mimir bench $(printf -- '--suite %s ' prompts/bench/*/*.jsonl) --model mimir --videos-per-prompt 2 \
        --batch-size 16 --workers 8 --llm-branch off --out ft_mimir_llm_off.json.gz

A suite may hold v1 lines (NanoBench) and world-v2 lines (NanoBench-Comp, mimir/world/v2/SCHEMA.md); each is scored
by its own scorer (`mimir.bench.comp.score_any`). Every suite is validated first; a bad line is named and nothing is
generated. Videos are generated `--batch-size` prompts per pipeline call, each with its own `torch.Generator` seeded
with its video seed, so a video does not depend on the batch it lands in; `--workers` processes score them while the
next batch is generated. The model is loaded through `mimir.loading.load_pipelines` only when needed, and the video
settings are the preset's own defaults.
"""

import argparse
import sys
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mimir.bench.comp import score_any as score_video  # v1 specs: v1's score_video; v2 specs: NanoBench-Comp
from mimir.bench.comp_validate import render_counterfactual
from mimir.bench.report import aggregate, environment, format_table, write_report
from mimir.bench.suite import spec_seed
from mimir.pair import MODELS
from mimir.world.spec import SceneSpec
from mimir.world.v2 import render as render_v2
from mimir.world.v2.render import HEIGHT as V2_HEIGHT
from mimir.world.v2.render import NUM_FRAMES as V2_NUM_FRAMES
from mimir.world.v2.render import WIDTH as V2_WIDTH
from mimir.world.v2.spec import is_v1, load_suite
from mimir.world.v2.suites import SPLITS as V2_SPLITS


# The renderer's video size for --ground-truth: a model run takes the pipeline's own defaults instead.
GROUND_TRUTH_VIDEO = {"num_frames": 9, "height": 64, "width": 64}
GROUND_TRUTH_VIDEO_V2 = {"num_frames": V2_NUM_FRAMES, "height": V2_HEIGHT, "width": V2_WIDTH}
# What a report keeps of each video; the scorer's bulky `details` only with --details.
RECORD_KEYS = ("id", "dimension", "split", "seed", "prompt", "pass", "checks", "quality", "suite")
# Videos generated but not yet scored, per worker: enough to keep the workers busy, bounded so that generation
# outrunning the scorers cannot fill the memory.
PENDING_PER_WORKER = 64


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m mimir.bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--suite", action="append", required=True, help="suite file (JSONL); repeat for several")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--model", choices=MODELS, help="which pipeline of the nano preset generates")
    src.add_argument("--ground-truth", action="store_true", help="score the renderer's videos instead of a model's")
    src.add_argument(
        "--counterfactual",
        action="store_true",
        help="score the renderer's counterfactual videos (each differs in the checked fact): should fail",
    )
    p.add_argument("--fusion-type", default=None, help="token fuser ablation (mimir model only)")
    p.add_argument("--weights", default=None, help="directory of Mimir weights (default: the shipped nano weights)")
    p.add_argument(
        "--llm-branch",
        choices=("on", "off"),
        default="on",
        help="'off' zeroes the LLM branch's contribution at inference (mimir model only): its reliance on the branch",
    )
    p.add_argument("--videos-per-prompt", type=int, default=1, help="videos per spec, each with its own seed")
    p.add_argument("--limit", type=int, default=None, help="score only the first N specs of each suite")
    p.add_argument("--num-inference-steps", type=int, default=None, help="default: the preset's")
    p.add_argument("--guidance-scale", type=float, default=None, help="default: the preset's")
    p.add_argument("--seed", type=int, default=0, help="offset added to every spec's fixed seed")
    p.add_argument("--batch-size", type=int, default=1, help="prompts per pipeline call (results do not depend on it)")
    p.add_argument("--workers", type=int, default=1, help="processes that score videos (1: score in this process)")
    p.add_argument("--details", action="store_true", help="keep the scorer's per-check details in the report")
    p.add_argument("--out", default=None, help="write the report JSON here (gzip when it ends in .gz)")
    return p


def video_seed(spec: SceneSpec, k: int, offset: int) -> int:
    """Seed of the k-th video of a spec: the spec's fixed seed, moved by k and the run's offset."""
    return (spec_seed(spec) + 7919 * k + offset) % 2**32


def split_of(path: str) -> str:
    """'train' / 'heldout' from a suite path's folders (prompts/bench/<split>/<dimension>.jsonl), a world-v2 split
    (prompts/bench/v2/<split>/<category>.jsonl), else ''."""
    parts = Path(path).parts
    return next((s for s in ("heldout", "train", *V2_SPLITS) if s in parts), "")


@dataclass(frozen=True)
class Job:
    """One video to make and judge."""

    suite: str
    spec: SceneSpec
    seed: int


def generate_batch(pipe, prompts: list[str], seeds: list[int], video: dict[str, Any], **call_kwargs) -> np.ndarray:
    """Videos of `prompts` from one pipeline call: (B, F, H, W, 3) float in [0, 1].

    Video b starts from the noise of `torch.Generator().manual_seed(seeds[b])` alone (diffusers draws the latents of
    a list of generators one by one), so it is the video that prompt and seed give in a batch of one. The generators
    live on the CPU: the same seed gives the same noise on any device.
    """
    if len(prompts) != len(seeds):
        raise ValueError(f"{len(prompts)} prompts but {len(seeds)} seeds: one seed per video")
    out = pipe(
        prompt=list(prompts),
        num_frames=video["num_frames"],
        height=video["height"],
        width=video["width"],
        num_inference_steps=video["num_inference_steps"],
        guidance_scale=video["guidance_scale"],
        generator=[torch.Generator().manual_seed(s) for s in seeds],
        output_type="np",
        **call_kwargs,
    )
    return np.asarray(out.frames)  # (B, F, H, W, 3)


class GroundTruthSource:
    """Videos from the world's renderer (the scorer's reference), or its counterfactuals: v1 specs at v1's video
    size, v2 specs at v2's."""

    def __init__(self, counterfactual: bool = False, index: dict[str, int] | None = None):
        self.defaults = {"v1": dict(GROUND_TRUTH_VIDEO), "v2": dict(GROUND_TRUTH_VIDEO_V2)}
        self.trained = None
        self.counterfactual = counterfactual
        self.index = index or {}  # spec id -> line in its suite: picks the counterfactual as the validation does

    def __call__(self, specs: list[SceneSpec], seeds: list[int]) -> list[np.ndarray]:
        videos = []  # sizes differ between v1 and v2 specs: a list of (F, H, W, 3)
        for spec, seed in zip(specs, seeds):
            d = self.defaults["v1" if is_v1(spec) else "v2"]
            size = d["num_frames"], d["height"], d["width"]
            if self.counterfactual:
                videos.append(render_counterfactual(spec, self.index.get(spec.id, 0), *size, seed=seed))
            else:
                videos.append(render_v2([spec], [seed], *size).numpy()[0])
        return videos


class ModelSource:
    """Videos from a pipeline of the nano preset, with the preset's video defaults unless a flag overrides one."""

    def __init__(self, args: argparse.Namespace):
        # with mimir.loading (diffusers, transformers) this module would take 12 s to import instead of 4 s, in every
        # scoring process too, which re-imports it: only a model run pays for it
        from mimir.loading import load_pipelines

        pipes = load_pipelines(preset="nano", mimir_weights=args.weights, fusion_type=args.fusion_type)
        self.pipe = pipes.pipeline(args.model)
        self.pipe.set_progress_bar_config(disable=True)  # one bar per batch would drown the run's own progress lines
        # untrained (random) nano weights are legal but their scores mean nothing: the report says which it was
        self.trained = pipes.trained
        if not pipes.defaults:
            raise ValueError("the preset publishes no video defaults (num_frames, height, width, steps, guidance)")
        self.defaults = dict(pipes.defaults)
        if args.num_inference_steps is not None:
            self.defaults["num_inference_steps"] = args.num_inference_steps
        if args.guidance_scale is not None:
            self.defaults["guidance_scale"] = args.guidance_scale
        self.call_kwargs = {"llm_branch": args.llm_branch} if args.model == "mimir" else {}

    def __call__(self, specs: list[SceneSpec], seeds: list[int]) -> np.ndarray:
        return generate_batch(self.pipe, [s.prompt for s in specs], seeds, self.defaults, **self.call_kwargs)


def record(result: dict[str, Any], job: Job, details: bool) -> dict[str, Any]:
    """The report's entry of one video: the scorer's verdicts plus where the video came from."""
    full = {**result, "suite": job.suite, "split": split_of(job.suite), "seed": job.seed, "prompt": job.spec.prompt}
    return {k: full[k] for k in RECORD_KEYS + (("details",) if details else ())}


def scoring_context():
    """Start method of the scoring processes: a fork server that imported the scorer once (seconds: it pulls in
    scipy, scikit-image and torch), whose forks then start at once. Not a fork of this process, which may hold CUDA
    and torch's threads, which a forked child must not inherit."""
    context = get_context("forkserver")
    context.set_forkserver_preload(["mimir.bench.scorer"])
    return context


def generate_and_score(
    jobs: list[Job], source, batch_size: int = 1, workers: int = 1, log=None
) -> list[dict[str, Any]]:
    """`score_video` results of every job, in the order of `jobs` whatever the batch size and the worker count.

    Batches are generated here, one after another; with workers > 1 a process pool scores the videos of one batch
    while the next is generated. `log(done, total)` is called after each batch.
    """
    results: list[dict[str, Any] | None] = [None] * len(jobs)
    pending: deque[tuple[int, Future]] = deque()
    pool = ProcessPoolExecutor(workers, mp_context=scoring_context()) if workers > 1 else nullcontext()
    with pool:
        for start in range(0, len(jobs), batch_size):
            batch = jobs[start : start + batch_size]
            frames = source([j.spec for j in batch], [j.seed for j in batch])  # (B, F, H, W, 3)
            for i, (job, video) in enumerate(zip(batch, frames), start=start):
                if workers > 1:
                    pending.append((i, pool.submit(score_video, video, job.spec)))
                else:
                    results[i] = score_video(video, job.spec)
            while len(pending) > PENDING_PER_WORKER * workers:
                i, future = pending.popleft()
                results[i] = future.result()
            if log is not None:
                log(start + len(batch), len(jobs))
        for i, future in pending:
            results[i] = future.result()
    return results  # type: ignore[return-value]


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Validate suites, generate, score; returns the report (settings, environment, per-suite summaries, videos)."""
    # 1. Validate the arguments and every suite before anything is loaded or generated
    counts = {"--videos-per-prompt": args.videos_per_prompt, "--batch-size": args.batch_size}
    counts |= {"--workers": args.workers, "--limit": 1 if args.limit is None else args.limit}
    for flag, value in counts.items():
        if value < 1:
            raise ValueError(f"{flag}={value}: must be >= 1")
    if args.model != "mimir":
        if args.fusion_type is not None:
            raise ValueError(f"--fusion-type={args.fusion_type!r} applies to --model mimir only")
        if args.llm_branch != "on":
            raise ValueError(f"--llm-branch={args.llm_branch!r} applies to --model mimir only")
    suites = {str(p): load_suite(p) for p in args.suite}  # v1 and v2 lines; a bad line stops here, named
    if args.limit is not None:
        suites = {p: specs[: args.limit] for p, specs in suites.items()}
    jobs = [
        Job(path, spec, video_seed(spec, k, args.seed))
        for path, specs in suites.items()
        for spec in specs
        for k in range(args.videos_per_prompt)
    ]

    # 2. Video source
    if args.ground_truth or args.counterfactual:
        index = {s.id: i for specs in suites.values() for i, s in enumerate(specs)}
        source = GroundTruthSource(args.counterfactual, index)
    else:
        source = ModelSource(args)

    # 3. Generate and score
    started = time.perf_counter()

    printed = 0

    def log(done: int, total: int) -> None:
        # about twenty lines per run: enough to see a GPU run's rate, few enough for a test's output
        nonlocal printed
        step = max(1, total // 20)
        if done == total or done // step > printed // step:
            printed = done
            print(f"{done}/{total} videos, {time.perf_counter() - started:.0f} s", file=sys.stderr)

    results = generate_and_score(jobs, source, args.batch_size, args.workers, log)
    videos = [record(r, job, args.details) for r, job in zip(results, jobs)]

    # 4. Summaries per suite file
    summaries = {
        path: {"split": split_of(path), "summary": aggregate([v for v in videos if v["suite"] == path])}
        for path in suites
    }
    settings = dict(vars(args))
    settings["source"] = (
        "ground_truth" if args.ground_truth else "counterfactual" if args.counterfactual else args.model
    )
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
        write_report(report, args.out)
        print(f"\nreport: {args.out}")
    return 0
