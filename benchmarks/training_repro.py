"""Issue 3's reproducibility check: do the model card's training commands give the shipped weights' losses again?

    .venv/bin/python benchmarks/training_repro.py      # prints the table, writes results/training_repro.json

Inputs: the shipped runs' logs (`assets/nano/logs/<stage>_losses.csv`) and a second training of the same recipe from
scratch (`benchmarks/training_repro/<stage>_losses.csv`, made on the GPU machine by `scripts/nano_reproduce.sh`
through `scripts/nano_device.sh repro {start,continue,finish}`).

One step's loss varies by 6-13% (one standard deviation) with the sampled timesteps and noise, so single final
values are not compared on their own. For each stage the window is the last quarter of its steps; in it:
- the logged single-step losses of both runs are compared with Welch's t-test (difference of means, 95% interval);
- the shipped run's final loss is placed against the second run's window: its z-score is the distance to the
  second run's window mean in units of the second run's single-step standard deviation;
- the second run also logs `loss_mean`, the mean of every step since the previous row: the window's per-step mean.
A stage reproduces "within noise" when the t-test does not separate the runs (p >= 0.05) and |z| <= 2.
Both runs draw data and noise from seeded generators, reseeded at every resume with the step it resumes from, so
they agree to the logged digit until the first step where their resume points differ: that step is reported too.
"""

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats


REPO = Path(__file__).resolve().parent.parent
STAGES = ("vae", "cogvideox", "mimir")
WINDOW = 0.25  # last quarter of the steps


def read_log(path: Path) -> list[dict[str, float]]:
    """Rows of a losses.csv, one per step (a resumed run may log the step it stopped at twice: keep the last)."""
    rows: dict[int, dict[str, float]] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            rows[int(r["step"])] = {k: float(v) for k, v in r.items()}
    return [rows[s] for s in sorted(rows)]


def wall_seconds(rows: list[dict[str, float]]) -> float:
    """Training seconds summed over resumed runs (the seconds column restarts with each run)."""
    total, last = 0.0, 0.0
    for r in rows:
        if r["seconds"] < last:
            total += last
        last = r["seconds"]
    return total + last


def identical_through(shipped: list[dict[str, float]], repro: list[dict[str, float]]) -> int | None:
    """Last step up to which every step both runs logged has the same loss to the logged digit (None: not even one)."""
    by_step = {int(r["step"]): r["loss"] for r in repro}
    last = None
    for r in shipped:
        step = int(r["step"])
        if step not in by_step:
            continue
        if by_step[step] != r["loss"]:
            break
        last = step
    return last


def compare(shipped: list[dict[str, float]], repro: list[dict[str, float]]) -> dict[str, Any]:
    final_step = int(shipped[-1]["step"])
    if int(repro[-1]["step"]) != final_step:
        raise ValueError(f"second run ended at step {int(repro[-1]['step'])}, the shipped run at {final_step}")
    start = (1 - WINDOW) * final_step
    a = np.array([r["loss"] for r in shipped if r["step"] > start])  # (k_shipped,)
    b = np.array([r["loss"] for r in repro if r["step"] > start])  # (k_repro,)
    means = np.array([r["loss_mean"] for r in repro if r["step"] > start])  # per-row interval means
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"too few logged steps after step {start:.0f}: shipped {len(a)}, second run {len(b)}")
    welch = stats.ttest_ind(a, b, equal_var=False)
    interval = welch.confidence_interval(0.95)
    shipped_final = float(shipped[-1]["loss"])
    z = (shipped_final - b.mean()) / b.std(ddof=1)
    within = bool(welch.pvalue >= 0.05 and abs(z) <= 2)
    return {
        "final_step": final_step,
        "window_after_step": round(start),
        "shipped": {
            "final_loss": shipped_final,
            "window_n": len(a),
            "window_mean": float(a.mean()),
            "window_sd": float(a.std(ddof=1)),
            "seconds": wall_seconds(shipped),
        },
        "second_run": {
            "final_loss": float(repro[-1]["loss"]),
            "window_n": len(b),
            "window_mean": float(b.mean()),
            "window_sd": float(b.std(ddof=1)),
            "window_mean_of_interval_means": float(means.mean()),
            "seconds": wall_seconds(repro),
        },
        "difference_of_means": float(a.mean() - b.mean()),
        "difference_ci_95": [float(interval.low), float(interval.high)],
        "welch_p": float(welch.pvalue),
        "shipped_final_z": float(z),
        "identical_through_step": identical_through(shipped, repro),
        "within_noise": within,
    }


def markdown(results: dict[str, dict[str, Any]]) -> str:
    header = (
        "| stage | steps | shipped final | second run final | window mean, shipped (n) | window mean, second run (n)"
        " | difference [95% CI] | Welch p | z of shipped final | identical through step | within noise |"
    )
    lines = [header, "|" + "---|" * 11]
    for stage, r in results.items():
        s, t = r["shipped"], r["second_run"]
        lines.append(
            f"| {stage} | {r['final_step']:,} | {s['final_loss']:.4f} | {t['final_loss']:.4f}"
            f" | {s['window_mean']:.4f} ± {s['window_sd']:.4f} ({s['window_n']})"
            f" | {t['window_mean']:.4f} ± {t['window_sd']:.4f} ({t['window_n']})"
            f" | {r['difference_of_means']:+.4f} [{r['difference_ci_95'][0]:+.4f}, {r['difference_ci_95'][1]:+.4f}]"
            f" | {r['welch_p']:.2f} | {r['shipped_final_z']:+.2f} | {r['identical_through_step'] or '—'}"
            f" | {'yes' if r['within_noise'] else 'NO'} |"
        )
    return "\n".join(lines)


def _relative(path: str) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shipped", default=str(REPO / "assets" / "nano" / "logs"))
    parser.add_argument("--second-run", default=str(REPO / "benchmarks" / "training_repro"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "training_repro.json"))
    args = parser.parse_args(argv)
    results = {
        stage: compare(
            read_log(Path(args.shipped) / f"{stage}_losses.csv"),
            read_log(Path(args.second_run) / f"{stage}_losses.csv"),
        )
        for stage in STAGES
    }
    table = markdown(results)
    print(table)
    report = {
        "command": "python benchmarks/training_repro.py",
        "inputs": {"shipped": _relative(args.shipped), "second_run": _relative(args.second_run)},
        "second_run_provenance": "benchmarks/training_repro/README.md (machine, date, versions, device commands)",
        "window": f"last {WINDOW:.0%} of each stage's steps",
        "results": results,
        "all_within_noise": all(r["within_noise"] for r in results.values()),
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["all_within_noise"] else 1


if __name__ == "__main__":
    sys.exit(main())
