"""The quality guard of the `fast` switch (mimir/fast.py): the same NanoBench specs and seeds generated exact and fast
on the nano preset (CPU by default), compared per model.

    # 1. choose the cache threshold on training wordings only (specs 100.. of every suite; the guard uses 0..)
    python benchmarks/fast_guard.py --select --split train --offset 100 --limit 3 \
        --json benchmarks/results/fast_threshold.json
    # 2. the guard, on held-out wordings, with what `fast="on"` turns on
    python benchmarks/fast_guard.py --split heldout --dimensions color count motion spatial_relationship --limit 30 \
        --json benchmarks/results/fast_guard.json
    # 3. fast="fp8" (float8 matmuls on top of the cache and compilation) on a CUDA GPU of compute capability >= 8.9
    python benchmarks/fast_guard.py --device cuda --fast fp8 --split heldout \
        --dimensions color count motion spatial_relationship --limit 30 --json fast_guard_fp8.json

Per model it reports: the PSNR of fast vs exact frames (per video over all frames, mean and min; identical videos
count as `PSNR_CAP` dB), the share of videos whose whole-spec verdict agrees, the paired pass-rate difference fast -
exact with its spec-level bootstrap 95% CI and exact McNemar p (mimir/bench/paired.py), the fraction of DiT block
forwards the cache let run, and seconds per video exact vs fast (median; one prompt per call; exact and fast are two
loads of the preset, so every prompt is new to each and both have the empty negative prompt cached after their first
call, as in the app; exact and fast alternate which goes first). On the CPU there is no compilation, so the speed-up
shown is the step cache's alone.

The pass rule (`GUARD_RULE`) and the threshold rule (`SELECT_RULE`) were written down before any result was seen.
"""

import argparse
import json
import math
import statistics
import sys
import time
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

from mimir.bench.cli import generate_batch, split_of, video_seed
from mimir.bench.environment import environment, load_average
from mimir.bench.paired import ALL, POOLED, compare_reports
from mimir.bench.scorer import score_video
from mimir.bench.suite import load_suites
from mimir.fast import DEFAULT_THRESHOLD, FastSettings, apply_fast, count_block_forwards
from mimir.loading import load_pipelines
from mimir.pair import MODELS
from mimir.world.vocab import DIMENSIONS


REPO = Path(__file__).resolve().parent.parent


PSNR_CAP = 100.0  # dB given to a video identical to its exact twin (MSE 0), so that means stay finite
# Fixed before any guard result was seen. Per model; the guard passes when both models pass.
GUARD_RULE = {"min_mean_psnr_db": 35.0, "min_verdict_agreement": 0.95, "max_abs_ci_points": 5.0}
# Fixed before the sweep ran: the largest candidate whose training-wording figures keep a margin over the guard's bar.
SELECT_RULE = {"thresholds": (0.05, 0.1, 0.2, 0.3), "min_mean_psnr_db": 40.0, "min_verdict_agreement": 0.95}


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of two videos (F, H, W, 3) in [0, 1] over all their pixels; PSNR_CAP when identical."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return PSNR_CAP if mse == 0 else min(PSNR_CAP, 10 * math.log10(1.0 / mse))


def jobs_of(args) -> list[tuple[str, Any, int]]:
    """(suite, spec, seed) of every video: the chosen split's suites, specs offset..offset+limit, one seed each."""
    paths = [REPO / "prompts" / "bench" / args.split / f"{d}.jsonl" for d in args.dimensions]
    suites = load_suites(paths)
    return [
        (str(Path(path).relative_to(REPO)), spec, video_seed(spec, 0, 0))
        for path, specs in suites.items()
        for spec in specs[args.offset : args.offset + args.limit]
    ]


def one_video(pipe, spec, seed: int, video: dict, clear: bool = False) -> tuple[np.ndarray, float]:
    """One video (F, H, W, 3) of one prompt in its own call, and its seconds; `clear` empties the prompt caches
    first (the empty negative prompt's too)."""
    if clear:
        pipe.prompt_encoder.clear_cache()
    start = time.perf_counter()
    frames = generate_batch(pipe, [spec.prompt], [seed], video)[0]
    return frames, time.perf_counter() - start


def record(suite: str, spec, seed: int, scored: dict) -> dict[str, Any]:
    """A video's entry as NanoBench reports keep it (what mimir/bench/paired.py pairs on)."""
    return {"id": spec.id, "dimension": spec.dimension, "split": split_of(suite), "seed": seed, "pass": scored["pass"]}


def summarise(exact: list[dict], fast: list[dict], psnrs: list[float]) -> dict[str, Any]:
    """PSNR, verdict agreement and the paired comparison fast (B) vs exact (A), pooled over suites and split."""
    cells = compare_reports(exact, fast)
    pooled = cells[(ALL, POOLED)].to_dict()
    agree = float(np.mean([a["pass"] == b["pass"] for a, b in zip(exact, fast)]))
    per_dimension = {d: cells[(d, POOLED)].to_dict() for d in DIMENSIONS if (d, POOLED) in cells}
    return {
        "n": len(exact),
        "psnr_mean_db": float(np.mean(psnrs)),
        "psnr_min_db": float(np.min(psnrs)),
        "identical_videos": int(sum(p == PSNR_CAP for p in psnrs)),
        "verdict_agreement": agree,
        "paired": pooled,
        "paired_per_dimension": per_dimension,
    }


def verdict(summary: dict[str, Any], rule: dict) -> bool:
    ok = summary["psnr_mean_db"] >= rule["min_mean_psnr_db"]
    ok &= summary["verdict_agreement"] >= rule["min_verdict_agreement"]
    if "max_abs_ci_points" in rule:
        p = summary["paired"]
        ok &= -rule["max_abs_ci_points"] <= p["ci_low"] and p["ci_high"] <= rule["max_abs_ci_points"]
    return bool(ok)


def guard(args, jobs) -> dict[str, Any]:
    """Exact and fast (`load_pipelines(fast=args.fast)`, what a user gets) on the same jobs, interleaved."""
    exact_pipes = load_pipelines("nano", device=args.device)
    fast_pipes = load_pipelines("nano", device=args.device, fast=args.fast)
    video = dict(exact_pipes.defaults)
    results: dict[str, Any] = {"fast_settings": asdict(fast_pipes.fast) if fast_pipes.fast else None, "models": {}}
    for model in MODELS:
        pipes = {"exact": exact_pipes.pipeline(model), "fast": fast_pipes.pipeline(model)}
        for pipe in pipes.values():
            pipe.set_progress_bar_config(disable=True)
        reports = {"exact": [], "fast": []}
        seconds = {"exact": [], "fast": []}
        psnrs = []
        with count_block_forwards(pipes["fast"].transformer) as count:
            for i, (suite, spec, seed) in enumerate(jobs):
                order = ("exact", "fast") if i % 2 == 0 else ("fast", "exact")  # drift on a shared CPU cancels
                frames = {}
                for side in order:
                    frames[side], took = one_video(pipes[side], spec, seed, video)
                    seconds[side].append(took)
                    reports[side].append(record(suite, spec, seed, score_video(frames[side], spec)))
                psnrs.append(psnr(frames["exact"], frames["fast"]))
                if (i + 1) % 20 == 0:
                    print(f"{model}: {i + 1}/{len(jobs)}", file=sys.stderr, flush=True)
        summary = summarise(reports["exact"], reports["fast"], psnrs)
        summary["seconds_per_video_median"] = {k: statistics.median(v) for k, v in seconds.items()}
        summary["seconds_per_video_mean"] = {k: statistics.mean(v) for k, v in seconds.items()}
        summary["speedup_median"] = (
            summary["seconds_per_video_median"]["exact"] / summary["seconds_per_video_median"]["fast"]
        )
        summary["dit_block_forwards_computed"] = count.fraction_computed
        summary["passes"] = verdict(summary, GUARD_RULE)
        summary["videos"] = {"exact": reports["exact"], "fast": reports["fast"], "psnr_db": psnrs}
        results["models"][model] = summary
    results["passes"] = all(m["passes"] for m in results["models"].values())
    return results


def select(args, jobs) -> dict[str, Any]:
    """Every candidate threshold against exact, on the jobs given (training wordings), and the rule's choice."""
    pipes = load_pipelines("nano", device="cpu")
    video = dict(pipes.defaults)
    for name in MODELS:
        pipes.pipeline(name).set_progress_bar_config(disable=True)
    exact = {m: [one_video(pipes.pipeline(m), sp, se, video, clear=True)[0] for _, sp, se in jobs] for m in MODELS}
    exact_reports = {
        m: [record(su, sp, se, score_video(f, sp)) for (su, sp, se), f in zip(jobs, exact[m])] for m in MODELS
    }
    candidates = {}
    for threshold in SELECT_RULE["thresholds"]:
        apply_fast([pipes.cogvideox, pipes.mimir], FastSettings(threshold=threshold))
        row = {}
        for m in MODELS:
            pipe = pipes.pipeline(m)
            with count_block_forwards(pipe.transformer) as count:
                frames = [one_video(pipe, spec, seed, video, clear=True)[0] for _, spec, seed in jobs]
            reports = [record(su, sp, se, score_video(f, sp)) for (su, sp, se), f in zip(jobs, frames)]
            summary = summarise(exact_reports[m], reports, [psnr(a, b) for a, b in zip(exact[m], frames)])
            summary["dit_block_forwards_computed"] = count.fraction_computed
            summary["qualifies"] = verdict(summary, SELECT_RULE)
            row[m] = summary
        for pipe in {id(p.transformer): p.transformer for p in (pipes.cogvideox, pipes.mimir)}.values():
            pipe.disable_cache()
        candidates[str(threshold)] = row
        print(f"threshold {threshold}: " + table_line(row), file=sys.stderr, flush=True)
    qualifying = [float(t) for t, row in candidates.items() if all(s["qualifies"] for s in row.values())]
    return {"candidates": candidates, "chosen": max(qualifying) if qualifying else None}


def table_line(row: dict[str, Any]) -> str:
    return "; ".join(
        f"{m} PSNR {s['psnr_mean_db']:.1f} (min {s['psnr_min_db']:.1f}) dB, agree {100 * s['verdict_agreement']:.1f}%"
        f", blocks run {100 * s['dit_block_forwards_computed']:.0f}%"
        for m, s in row.items()
    )


def markdown_table(results: dict[str, Any]) -> str:
    lines = [
        "| model | n | PSNR fast vs exact, mean / min dB | verdicts agree | pass rate exact → fast | fast − exact, "
        "points [95% CI] | McNemar p | DiT blocks run | s/video exact / fast (median) | speed-up | guard |",
        "|" + "---|" * 11,
    ]
    for model, s in results["models"].items():
        p = s["paired"]
        sec = s["seconds_per_video_median"]
        lines.append(
            f"| {model} | {s['n']} | {s['psnr_mean_db']:.1f} / {s['psnr_min_db']:.1f} | "
            f"{100 * s['verdict_agreement']:.1f}% | {p['rate_a']:.1f}% → {p['rate_b']:.1f}% | "
            f"{p['diff']:+.1f} [{p['ci_low']:+.1f}, {p['ci_high']:+.1f}] | {p['p_value']:.3g} | "
            f"{100 * s['dit_block_forwards_computed']:.0f}% | {sec['exact']:.2f} / {sec['fast']:.2f} | "
            f"{s['speedup_median']:.2f}x | {'pass' if s['passes'] else 'FAIL'} |"
        )
    return "\n".join(lines)


def main(args: argparse.Namespace) -> dict[str, Any]:
    args.dimensions = args.dimensions or list(DIMENSIONS)
    jobs = jobs_of(args)
    started = time.perf_counter()
    report: dict[str, Any] = {
        "command": " ".join(["python", *sys.argv]),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "load_average_at_start": load_average(),
        "environment": environment(),
        "jobs": {"split": args.split, "dimensions": args.dimensions, "offset": args.offset, "limit": args.limit},
        "device": args.device,
        "fast": args.fast,
        "psnr_cap_db": PSNR_CAP,
    }
    if args.select:
        report["rule"] = SELECT_RULE
        report["default_threshold_in_code"] = DEFAULT_THRESHOLD
        report.update(select(args, jobs))
        print(f"chosen threshold: {report['chosen']} (rule: {SELECT_RULE})")
    else:
        report["rule"] = GUARD_RULE
        report.update(guard(args, jobs))
        report["table"] = markdown_table(report)
        print(report["table"])
        print(f"rule: {GUARD_RULE} per model -> guard {'PASSES' if report['passes'] else 'FAILS'}")
    report["load_average_at_end"] = load_average()
    report["seconds"] = time.perf_counter() - started
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(report, indent=1, default=str) + "\n")
    return report


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--split", choices=("train", "heldout"), default="heldout", help="which wordings")
    parser.add_argument("--dimensions", nargs="+", choices=DIMENSIONS, default=None, help="default: all nine")
    parser.add_argument("--offset", type=int, default=0, help="skip the first N specs of each suite")
    parser.add_argument("--limit", type=int, default=30, help="specs per suite (one seed each)")
    parser.add_argument("--select", action="store_true", help="sweep SELECT_RULE's thresholds instead (train split)")
    parser.add_argument("--device", default="cpu", help="where both loads run (cuda: with compilation)")
    parser.add_argument(
        "--fast", default="on", choices=("on", "fp8"), help="the fast side's switch (fp8: CUDA >= 8.9, torchao)"
    )
    parser.add_argument("--json", default=None, help="write the report here")
    return parser


if __name__ == "__main__":
    ns = build_parser().parse_args()
    if ns.select and ns.split != "train":
        raise SystemExit(f"--select with --split {ns.split!r}: the threshold is chosen on training wordings only")
    if ns.select and (ns.device != "cpu" or ns.fast != "on"):
        raise SystemExit(
            f"--select sweeps the cache threshold on the CPU: drop --device {ns.device} / --fast {ns.fast}"
        )
    main(ns)
