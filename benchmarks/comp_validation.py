"""Validate NanoBench-Comp against world v2's ground truth; writes SCORER_VALIDATION_V2.md and .json.

For every suite line: its ground-truth render must pass its category's verdict (target >= 99% per category), and
its counterfactual render, which differs in exactly the checked fact, must fail (target >= 95% rejection). Train
suites also get the mild blur + noise of v1's validation (reported, no target). See mimir.bench.comp_validate.

    .venv/bin/python benchmarks/comp_validation.py [--suite prompts/bench/v2/train/<category>.jsonl ...] [--limit N]
"""

import argparse
import json
import shlex
import sys
import time
from multiprocessing import Pool
from pathlib import Path

import torch

from mimir.bench.comp_validate import validate_comp
from mimir.bench.environment import environment
from mimir.bench.report import wilson_interval
from mimir.world.v2 import vocab
from mimir.world.v2.render import HEIGHT, NUM_FRAMES, WIDTH
from mimir.world.v2.spec import load_suite


HERE = Path(__file__).resolve().parent
DEFAULT_SUITES = sorted(str(p) for p in (HERE.parent / "prompts" / "bench" / "v2").glob("*/*.jsonl"))
TARGETS = {"ground_truth": 0.99, "counterfactual_rejected": 0.95}


def _name(path: str) -> str:
    resolved = Path(path).resolve()
    return str(resolved.relative_to(HERE.parent)) if resolved.is_relative_to(HERE.parent) else path


def _one(job: tuple[str, int | None, bool]) -> tuple[str, dict]:
    torch.set_num_threads(1)  # the pool already uses every core
    path, limit, degraded = job
    specs = load_suite(path)[:limit] if limit else load_suite(path)
    started = time.perf_counter()
    result = validate_comp(specs, NUM_FRAMES, HEIGHT, WIDTH, degraded=degraded)
    result["seconds"] = round(time.perf_counter() - started, 1)
    result["dimension"] = specs[0].dimension
    result["split"] = Path(path).parent.name
    return _name(path), result


def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.1f}"


def _ci(x: float, n: int) -> str:
    lo, hi = wilson_interval(round(x * n), n)
    return f"{_pct(x)} [{_pct(lo)}, {_pct(hi)}]"


def per_category(results: dict[str, dict]) -> dict[str, dict]:
    """Pooled over splits: n, ground truth and counterfactual rejection per category."""
    out = {}
    for c in vocab.CATEGORIES:
        rows = [r for r in results.values() if r["dimension"] == c]
        if not rows:
            continue
        n = sum(r["n"] for r in rows)
        out[c] = {
            "n": n,
            "ground_truth": sum(r["ground_truth"] * r["n"] for r in rows) / n,
            "counterfactual_rejected": sum(r["counterfactual_rejected"] * r["n"] for r in rows) / n,
        }
    return out


def to_markdown(results: dict[str, dict], env: dict, command: str, seconds: float) -> str:
    pooled = per_category(results)
    met = all(
        p["ground_truth"] >= TARGETS["ground_truth"]
        and p["counterfactual_rejected"] >= TARGETS["counterfactual_rejected"]
        for p in pooled.values()
    )
    lines = [
        "# NanoBench-Comp scorer validation (world v2)",
        "",
        "Does each category's exact verdict (`mimir/bench/comp.py`, reading the video through `comp_detect.py`) pass",
        "the renderer's ground truth and reject counterfactual renders that differ in exactly the checked fact?",
        "Rates in %, with 95% Wilson intervals. Produced by `benchmarks/comp_validation.py`; raw figures and failing",
        "ids in `benchmarks/SCORER_VALIDATION_V2.json`. Video: "
        f"{NUM_FRAMES} frames, {WIDTH}x{HEIGHT} (provisional size, `mimir/world/v2/render.py`).",
        "",
        "Per category, pooled over every suite line of every split:",
        "",
        "| category | n | ground truth | counterfactual rejected |",
        "|---|---|---|---|",
    ]
    for c, p in pooled.items():
        lines.append(
            f"| {c} | {p['n']} | {_ci(p['ground_truth'], p['n'])} | {_ci(p['counterfactual_rejected'], p['n'])} |"
        )
    lines += [
        "",
        "Targets: ground truth >= 99% and counterfactual rejection >= 95% per category: "
        f"**{'met' if met else 'NOT met'}**.",
        "",
        "Per suite:",
        "",
        "| suite | n | ground truth | counterfactual rejected | blur + noise |",
        "|---|---|---|---|---|",
    ]
    for name, r in results.items():
        lines.append(
            f"| {name} | {r['n']} | {_pct(r['ground_truth'])} | {_pct(r['counterfactual_rejected'])} | "
            f"{_pct(r['degraded'])} |"
        )
    pk = env["packages"]
    lines += [
        "",
        "Counterfactuals (`mimir.bench.comp_validate.counterfactual`): consistent binding, two objects' colours",
        "(every other spec with two sizes: their sizes) swapped; dynamic binding, one object's change reversed;",
        "spatial, the opposite relation; motion binding, two objects' motions swapped; action binding, two objects'",
        "actions swapped (an action replaced where no swap is valid); interactions, the same motions stopped short of",
        "contact; numeracy, one kind's count +-1, or for a negation one copy of the excluded kind added. Each is",
        "rendered with the spec's seed and judged against the original spec. *blur + noise*: v1's mild degradation",
        "(sigma 0.7 px, noise std 0.04), train suites only, no target.",
        "",
        f"Machine: {env['processor']}, {env['cpu_count']} CPU cores, {env['platform']}. Python {env['python']}, "
        f"torch {pk['torch']}, numpy {pk['numpy']}, scipy {pk['scipy']}. Wall time {seconds:.0f} s.",
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
        sys.exit("no suites: run benchmarks/make_suites_v2.py first")
    for p in suites:
        load_suite(p)  # fail on a bad line before the long run
    started = time.perf_counter()
    out = Path(args.out)
    partial = out.with_suffix(".partial.json")  # one entry per finished suite: a long run that stops keeps them
    results = json.loads(partial.read_text()) if args.resume and partial.exists() else {}
    order = {"train": 0, "heldout_compositions": 1, "precise": 2, "heldout_wordings": 3}
    todo = sorted((p for p in suites if _name(p) not in results), key=lambda p: order.get(Path(p).parent.name, 9))
    jobs = [(p, args.limit, Path(p).parent.name in args.degraded_splits) for p in todo]
    with Pool(args.workers) as pool:
        for name, result in pool.imap_unordered(_one, jobs):
            results[name] = result
            partial.write_text(json.dumps(results, default=str))
            print(
                f"{name}: ground truth {result['ground_truth']:.3f}, counterfactual rejected "
                f"{result['counterfactual_rejected']:.3f} ({result['seconds']} s)",
                file=sys.stderr,
                flush=True,
            )
    results = {k: results[k] for k in sorted(results)}
    seconds = time.perf_counter() - started
    env = environment()
    command = ".venv/bin/python " + " ".join(shlex.quote(a) for a in [sys.argv[0], *sys.argv[1:]])
    report = {"command": command, "environment": env, "seconds": round(seconds, 1), "suites": results,
              "per_category": per_category(results)}  # fmt: skip
    out.with_suffix(".json").write_text(json.dumps(report, indent=1, default=str))
    out.with_suffix(".md").write_text(to_markdown(results, env, command, seconds))
    print(out.with_suffix(".md").read_text())


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", action="append", default=None, help="default: prompts/bench/v2/*/*.jsonl")
    parser.add_argument("--limit", type=int, default=None, help="first N specs per suite (quick runs)")
    parser.add_argument("--degraded-splits", nargs="*", default=["train"], help="splits that also get blur + noise")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--resume", action="store_true", help="keep the suites of OUT.partial.json, run the rest")
    parser.add_argument("--out", default=str(HERE / "SCORER_VALIDATION_V2.md"), help="writes OUT.md and OUT.json")
    main(parser.parse_args())
