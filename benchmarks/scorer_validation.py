"""Validate the NanoBench scorer against the nano world's ground truth; writes SCORER_VALIDATION.md and .json.

For every suite: ground-truth renders must pass (>= 98% per dimension), mildly blurred + noised renders too
(>= 95%), while noise videos, renders of a different spec (mismatched) and renders judged against an altered spec
(counterfactual) must not (near chance / zero). See mimir.bench.validate for the conditions.

    .venv/bin/python benchmarks/scorer_validation.py [--suite prompts/bench/train/color.jsonl ...] [--limit N]
"""

import argparse
import json
import shlex
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import torch

from mimir.bench.environment import environment
from mimir.bench.report import wilson_interval
from mimir.bench.suite import load_suites
from mimir.bench.validate import validate_suite
from mimir.world.render import render


HERE = Path(__file__).resolve().parent
DEFAULT_SUITES = sorted(str(p) for p in (HERE.parent / "prompts" / "bench" / "train").glob("*.jsonl"))
TARGETS = {"ground_truth": 0.98, "degraded": 0.95}


def _render(specs, seeds):
    return render(specs, seeds).numpy()


def _suite_name(path: str) -> str:
    """A suite as the report names it: relative to the repository when it lies inside it, never a machine's path."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(HERE.parent)) if resolved.is_relative_to(HERE.parent) else path


def _one(job: tuple[str, int | None, int]) -> tuple[str, dict]:
    torch.set_num_threads(1)  # the pool already uses every core
    path, limit, seed = job
    specs = load_suites([path])[path]
    specs = specs[:limit] if limit else specs
    started = time.perf_counter()
    result = validate_suite(specs, _render, seed=seed)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["dimension"] = specs[0].dimension
    return _suite_name(path), result


def to_markdown(results: dict[str, dict], env: dict, command: str, seconds: float) -> str:
    def pct(x: float) -> str:
        return f"{100 * x:.1f}"

    def ci(x: float, n: int) -> str:
        lo, hi = wilson_interval(round(x * n), n)
        return f"{pct(x)} [{pct(lo)}, {pct(hi)}]"

    lines = [
        "# NanoBench scorer validation",
        "",
        "Does the classical scorer (`mimir/bench/`) agree with the nano world's ground truth, and does it refuse",
        "what it should refuse? Pass rates of the headline verdict (the check named like the spec's dimension), %,",
        "with 95% Wilson intervals for ground truth. Produced by `benchmarks/scorer_validation.py`;",
        "raw figures (and failing ids) in `benchmarks/SCORER_VALIDATION.json`.",
        "",
        "| dimension | n | ground truth | all checks on GT | blur + noise | harsh | noise videos | mismatched "
        "| counterfactual |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results.values():
        n = r["n"]
        lines.append(
            f"| {r['dimension']} | {n} | {ci(r['ground_truth'], n)} | {pct(r['ground_truth_all_checks'])} | "
            f"{pct(r['degraded'])} | {pct(r['degraded_strong'])} | "
            f"{pct(r['noise'])} | {pct(r['mismatched'])} | {pct(r['counterfactual'])} |"
        )
    ok_gt = all(r["ground_truth"] >= TARGETS["ground_truth"] for r in results.values())
    ok_deg = all(r["degraded"] >= TARGETS["degraded"] for r in results.values())
    lines += [
        "",
        f"Targets: ground truth >= 98% per dimension: **{'met' if ok_gt else 'NOT met'}**; "
        f"blur + noise >= 95%: **{'met' if ok_deg else 'NOT met'}**.",
        "",
        "Conditions:",
        "",
        "- *ground truth*: the renderer's video of the spec (`mimir.world.render`, seed from the spec id).",
        "- *all checks on GT*: share of ground-truth videos on which every applicable check passes (shape, colour,",
        "  count, presence, and relation / motion / event / lighting where the spec has one).",
        "- *blur + noise*: ground truth with a gaussian blur (sigma 0.7 px) and gaussian noise (std 0.04).",
        "- *harsh*: blur sigma 1 px, noise std 0.06 and a per-video colour cast (gain 0.85-1 and offset +-0.06 per",
        "  channel), closer to what a small VAE does; no target, reported to show the margin.",
        "- *noise videos*: white noise or smooth colour blobs; should be ~0.",
        "- *mismatched*: the render of another spec of the same suite judged against this spec; passes only where",
        "  the two specs agree on what the dimension judges, so it sits at chance level: e.g. ~50% for lighting",
        "  (two values), ~1/8-1/4 for one-object colour or class, lower where more must coincide.",
        "- *counterfactual*: this spec's render judged against a copy whose judged property is altered (other",
        "  shape, colour not in the scene, count +-1, opposite relation / direction / event / lighting, the two",
        "  motion steps swapped); should be 0.",
        "",
        "Per-check agreement on ground truth (%):",
        "",
    ]
    checks = sorted({c for r in results.values() for c in r["per_check_ground_truth"]})
    lines.append("| dimension | " + " | ".join(checks) + " |")
    lines.append("|---|" + "---|" * len(checks))
    for r in results.values():
        row = [pct(r["per_check_ground_truth"][c]) if c in r["per_check_ground_truth"] else "-" for c in checks]
        lines.append(f"| {r['dimension']} | " + " | ".join(row) + " |")
    pk = env["packages"]
    lines += [
        "",
        "Quality figures on ground truth (mean; 1 = perfect): "
        + ", ".join(f"{r['dimension']} {r['quality_ground_truth']['imaging_quality']:.3f}" for r in results.values())
        + " (imaging quality; background consistency and flicker are 1.000 except under lighting ramps).",
        "",
        f"Machine: {env['processor']}, {env['cpu_count']} CPU cores, {env['platform']}, GPU: {env['cuda']}. "
        f"Python {env['python']}, torch {pk['torch']}, numpy {pk['numpy']}, scipy {pk['scipy']}, "
        f"scikit-image {pk['scikit-image']}. Wall time {seconds:.0f} s.",
        "",
        "Command:",
        "",
        "```",
        command,
        "```",
        "",
    ]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> None:
    suites = args.suite or DEFAULT_SUITES
    if not suites:
        sys.exit("no suites: run benchmarks/make_suites.py first")
    load_suites(suites)  # fail on a bad line before the long run
    started = time.perf_counter()
    with Pool(args.workers) as pool:
        results = dict(pool.map(_one, [(p, args.limit, args.seed) for p in suites]))
    seconds = time.perf_counter() - started
    env = environment()
    command = ".venv/bin/python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    report = {"command": command, "environment": env, "seconds": round(seconds, 1), "suites": results}
    out = Path(args.out)
    out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    out.with_suffix(".md").write_text(to_markdown(results, env, command, seconds))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", default=None, help="default: prompts/bench/train/*.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="first N specs per suite (quick runs)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the degradations, noise and mismatch pairing")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", default=str(HERE / "SCORER_VALIDATION.md"), help="writes OUT.md and OUT.json")
    main(parser.parse_args())
