"""Reproducibility check: do the model card's training commands give the shipped weights' losses again?

    .venv/bin/python benchmarks/training_repro.py      # prints the table, writes results/training_repro.json
    .venv/bin/python benchmarks/training_repro.py --record-weights runs/repro   # once, where the weights came back

Inputs: the shipped runs' logs (`mimir/assets/nano/logs/*_losses.csv`) and second trainings of the same recipe
(`benchmarks/training_repro/*_losses.csv`), both made on the GPU machine:
- `vae`, `cogvideox` (the CogVideoX-nano base), `mimir` (the first Mimir-nano, 628 steps, superseded in 1a320de:
  its shipped log is kept as `shipped_389ff84_mimir_losses.csv`): from scratch, by `scripts/nano_reproduce.sh`
  through `scripts/nano_device.sh repro {start,continue,finish}`;
- `ft_mimir`, `ft_t5_only` (the shipped Mimir-nano and its CogVideoX-nano control, fine-tuned 4,000 steps from the
  base): by `scripts/nano_fusion_campaign.sh train mimir t5_only` from the base of commit 389ff84.

One step's loss varies by 6-13% (one standard deviation) with the sampled timesteps and noise, so single final
values are not compared on their own. For each stage the window is the last quarter of its steps; in it:
- the logged single-step losses of both runs are compared with Welch's t-test (difference of means, 95% interval);
- the shipped run's final loss is placed against the second run's window: its z-score is the distance to the
  second run's window mean in units of the second run's single-step standard deviation;
- the second run also logs `loss_mean`, the mean of every step since the previous row: the window's per-step mean.
A stage reproduces "within noise" when the t-test does not separate the runs (p >= 0.05) and |z| <= 2.
Both runs draw data and noise from seeded generators, reseeded at every resume with the step it resumes from, so
they agree to the logged digit until the first step where their resume points differ: that step is reported too,
with each run's segments (the logged steps of each run between resumes) and the steps they resumed from.

For the fine-tunes the weights are compared as well: `--record-weights DIR` reads the second run's exported weights
(`DIR/ft_<type>/...`, not shipped) and writes their sha256, their distance to the shipped weights and the Mimir
fuser's layer mix (softmax of `layer_logits`) and `llm_scale` to `benchmarks/training_repro/ft_weights.json`;
every run then compares that record with the shipped `mimir/assets/nano` weights.
"""

import argparse
import csv
import hashlib
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
from safetensors.numpy import load_file
from scipy import stats


REPO = Path(__file__).resolve().parent.parent
WINDOW = 0.25  # last quarter of the steps
# stage: (shipped log, in "shipped" or in "second_run"; the second run's log; what the stage is)
STAGES: dict[str, tuple[str, str, str, str]] = {
    "vae": ("shipped", "vae_losses.csv", "vae_losses.csv", "VAE"),
    "cogvideox": ("shipped", "cogvideox_base_losses.csv", "cogvideox_losses.csv", "CogVideoX-nano base"),
    "mimir": (
        "second_run",
        "shipped_389ff84_mimir_losses.csv",
        "mimir_losses.csv",
        "first Mimir-nano (628 steps from the base; superseded)",
    ),
    "ft_mimir": ("shipped", "mimir_losses.csv", "ft_mimir_losses.csv", "Mimir-nano, fine-tuned 4,000 steps"),
    "ft_t5_only": (
        "shipped",
        "cogvideox_losses.csv",
        "ft_t5_only_losses.csv",
        "CogVideoX-nano control, fine-tuned 4,000 steps",
    ),
}
# fine-tune: the shipped model folders its exported weights are compared with (sub-folder -> assets path)
SHIPPED_WEIGHTS = {
    "ft_mimir": {
        "transformer": "mimir/assets/nano/mimir/transformer",
        "token_fuser": "mimir/assets/nano/mimir/token_fuser",
    },
    "ft_t5_only": {"transformer": "mimir/assets/nano/cogvideox/transformer"},
}
WEIGHTS_RECORD = "ft_weights.json"
WEIGHTS_FILE = "diffusion_pytorch_model.safetensors"


def read_log(path: Path) -> list[dict[str, float]]:
    """Rows of a losses.csv, one per step (a resumed run may log the step it stopped at twice: keep the last)."""
    rows: dict[int, dict[str, float]] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            rows[int(r["step"])] = {k: float(v) for k, v in r.items()}
    return [rows[s] for s in sorted(rows)]


def read_segments(path: Path) -> list[list[dict[str, float]]]:
    """The rows of a losses.csv as logged, split into its runs (one per resume).

    A new run starts where the seconds column restarts, where the step does not increase (a killed run resumed from an
    earlier checkpoint logs some steps again), or after a row off the logging grid that is not the last: a run that
    ran out of time logs and checkpoints the step it stopped at (its successor's clock may already be past it).
    """
    with path.open() as f:
        rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(f)]
    steps = [int(r["step"]) for r in rows]
    gaps = [b - a for a, b in zip(steps, steps[1:]) if b > a]
    every = max(set(gaps), key=gaps.count) if gaps else None  # the logging interval
    if every is not None and gaps.count(every) < 2:
        every = None  # too few rows to tell the grid
    segments: list[list[dict[str, float]]] = []
    for i, r in enumerate(rows):
        prev = rows[i - 1] if i else None
        if (
            prev is None
            or r["seconds"] < prev["seconds"]
            or r["step"] <= prev["step"]
            or (every is not None and int(prev["step"]) % every != 0)
        ):
            segments.append([])
        segments[-1].append(r)
    return segments


def wall_seconds(segments: list[list[dict[str, float]]]) -> float:
    """Training seconds summed over resumed runs (the seconds column restarts with each run)."""
    return sum(seg[-1]["seconds"] for seg in segments)


def resumes(segments: list[list[dict[str, float]]], checkpoint_every: int | None) -> list[dict[str, int | None]]:
    """Each run's logged steps, and the step it resumed from (inferred: the previous run's last logged step if it
    went on after it, else the last multiple of `checkpoint_every` before its first logged step; None: unknown)."""
    out: list[dict[str, int | None]] = []
    for i, seg in enumerate(segments):
        first, last = int(seg[0]["step"]), int(seg[-1]["step"])
        if i == 0:
            start = 0
        elif first > int(segments[i - 1][-1]["step"]):
            start = int(segments[i - 1][-1]["step"])
        else:
            start = (first - 1) // checkpoint_every * checkpoint_every if checkpoint_every else None
        out.append({"resumed_from": start, "first_logged": first, "last_logged": last})
    return out


def checkpoint_every(losses: Path) -> int | None:
    """`--checkpoint-every` from the args.json beside a losses.csv (<stage>_args.json), if recorded."""
    args = losses.with_name(losses.name.replace("_losses.csv", "_args.json"))
    if not args.exists():
        return None
    return json.loads(args.read_text()).get("checkpoint_every")


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


def compare(shipped_path: Path, repro_path: Path) -> dict[str, Any]:
    shipped, repro = read_log(shipped_path), read_log(repro_path)
    shipped_runs, repro_runs = read_segments(shipped_path), read_segments(repro_path)
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
            "seconds": wall_seconds(shipped_runs),
            "runs": resumes(shipped_runs, checkpoint_every(shipped_path)),
        },
        "second_run": {
            "final_loss": float(repro[-1]["loss"]),
            "window_n": len(b),
            "window_mean": float(b.mean()),
            "window_sd": float(b.std(ddof=1)),
            "window_mean_of_interval_means": float(means.mean()),
            "seconds": wall_seconds(repro_runs),
            "runs": resumes(repro_runs, checkpoint_every(repro_path)),
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
        " | difference [95% CI] | Welch p | z of shipped final | resumed from, shipped | resumed from, second run"
        " | identical through step | within noise |"
    )
    lines = [header, "|" + "---|" * 13]
    for stage, r in results.items():
        s, t = r["shipped"], r["second_run"]
        lines.append(
            f"| {stage} | {r['final_step']:,} | {s['final_loss']:.4f} | {t['final_loss']:.4f}"
            f" | {s['window_mean']:.4f} ± {s['window_sd']:.4f} ({s['window_n']})"
            f" | {t['window_mean']:.4f} ± {t['window_sd']:.4f} ({t['window_n']})"
            f" | {r['difference_of_means']:+.4f} [{r['difference_ci_95'][0]:+.4f}, {r['difference_ci_95'][1]:+.4f}]"
            f" | {r['welch_p']:.2f} | {r['shipped_final_z']:+.2f} | {_resumed(s)} | {_resumed(t)}"
            f" | {r['identical_through_step'] or '—'}"
            f" | {'yes' if r['within_noise'] else 'NO'} |"
        )
    return "\n".join(lines)


def _resumed(run: dict[str, Any]) -> str:
    starts = [r["resumed_from"] for r in run["runs"][1:]]
    return ", ".join("?" if x is None else f"{x:,}" for x in starts) or "—"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fuser_mix(folder: Path) -> dict[str, Any]:
    """The Mimir fuser's layer mix (softmax of `layer_logits`, one weight per LLM hidden layer) and `llm_scale`."""
    w = load_file(str(folder / WEIGHTS_FILE))
    logits = w["layer_logits"].astype(np.float64)  # (L,)
    mix = np.exp(logits - logits.max())
    return {
        "layer_logits": [float(x) for x in logits],
        "layer_mix": [float(x) for x in mix / mix.sum()],
        "llm_scale": float(w["llm_scale"]),
    }


def _distance(a: Path, b: Path) -> dict[str, Any]:
    """How far two weight files are apart: tensors bit-identical, largest |difference|, relative L2 distance."""
    x, y = load_file(str(a)), load_file(str(b))
    if x.keys() != y.keys():
        raise ValueError(f"{a} and {b} hold different tensors: {sorted(set(x) ^ set(y))}")
    diff2 = sum(float(((x[k].astype(np.float64) - y[k].astype(np.float64)) ** 2).sum()) for k in x)
    norm2 = sum(float((x[k].astype(np.float64) ** 2).sum()) for k in x)
    return {
        "tensors": len(x),
        "identical_tensors": sum(bool(np.array_equal(x[k], y[k])) for k in x),
        "max_abs_difference": max(float(np.abs(x[k].astype(np.float64) - y[k].astype(np.float64)).max()) for k in x),
        "relative_l2": math.sqrt(diff2 / norm2),
    }


def record_weights(weights: Path, out: Path) -> dict[str, Any]:
    """The second run's exported fine-tunes (not shipped), summed up against the shipped weights they reproduce."""
    record: dict[str, Any] = {"source": _relative(str(weights)), "runs": {}}
    for run, folders in SHIPPED_WEIGHTS.items():
        entry: dict[str, Any] = {}
        for sub, shipped in folders.items():
            mine = weights / run / sub / WEIGHTS_FILE
            theirs = REPO / shipped / WEIGHTS_FILE
            entry[sub] = {
                "sha256": _sha256(mine),
                "shipped": shipped,
                "shipped_sha256": _sha256(theirs),
                "vs_shipped": _distance(theirs, mine),
            }
        if "token_fuser" in folders:
            entry["fuser"] = _fuser_mix(weights / run / "token_fuser")
        record["runs"][run] = entry
    out.write_text(json.dumps(record, indent=1) + "\n")
    return record


def compare_weights(record_path: Path) -> dict[str, Any] | None:
    """The recorded second-run weights against the shipped files as they are now (None: nothing recorded)."""
    if not record_path.exists():
        return None
    record = json.loads(record_path.read_text())
    out: dict[str, Any] = {"record": _relative(str(record_path)), "runs": {}}
    for run, entry in record["runs"].items():
        r: dict[str, Any] = {}
        for sub, e in entry.items():
            if sub == "fuser":
                continue
            # the record keeps the path it was made against; the files are compared where they ship now
            now = _sha256(REPO / SHIPPED_WEIGHTS[run][sub] / WEIGHTS_FILE)
            r[sub] = {
                "bit_identical_to_shipped": e["sha256"] == now,
                "record_made_against_current_shipped": e["shipped_sha256"] == now,
                **e["vs_shipped"],
            }
        if "fuser" in entry:
            shipped = _fuser_mix(REPO / SHIPPED_WEIGHTS[run]["token_fuser"])
            mine = entry["fuser"]
            r["fuser"] = {
                "shipped": shipped,
                "second_run": mine,
                "layer_mix_max_abs_difference": float(
                    np.abs(np.array(shipped["layer_mix"]) - np.array(mine["layer_mix"])).max()
                ),
                "llm_scale_difference": shipped["llm_scale"] - mine["llm_scale"],
            }
        out["runs"][run] = r
    return out


def weights_markdown(weights: dict[str, Any]) -> str:
    lines = [
        "| fine-tune | weights | bit-identical to shipped | identical tensors | max abs difference | relative L2 |",
        "|" + "---|" * 6,
    ]
    for run, r in weights["runs"].items():
        for sub, e in r.items():
            if sub == "fuser":
                continue
            same = "yes" if e["bit_identical_to_shipped"] else "no"
            lines.append(
                f"| {run} | {sub} | {same} | {e['identical_tensors']} of {e['tensors']}"
                f" | {e['max_abs_difference']:.4g} | {e['relative_l2']:.4f} |"
            )
    for run, r in weights["runs"].items():
        if "fuser" in r:
            f = r["fuser"]
            lines.append("")
            for who in ("shipped", "second_run"):
                mix = " ".join(f"{x:.3f}" for x in f[who]["layer_mix"])
                lines.append(f"{run} fuser, {who}: layer mix {mix}; llm_scale {f[who]['llm_scale']:.4f}")
            lines.append(
                f"{run} fuser: largest layer-mix difference {f['layer_mix_max_abs_difference']:.2g},"
                f" llm_scale difference {f['llm_scale_difference']:.2g}"
            )
    return "\n".join(lines)


def _relative(path: str) -> str:
    path = Path(path).resolve()
    return str(path.relative_to(REPO)) if path.is_relative_to(REPO) else str(path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shipped", default=str(REPO / "mimir" / "assets" / "nano" / "logs"))
    parser.add_argument("--second-run", default=str(REPO / "benchmarks" / "training_repro"))
    parser.add_argument("--out", default=str(REPO / "benchmarks" / "results" / "training_repro.json"))
    parser.add_argument(
        "--record-weights",
        metavar="DIR",
        help="the second run's exported fine-tunes (DIR/ft_mimir/..., DIR/ft_t5_only/...): record them first",
    )
    parser.add_argument("--stages", nargs="+", default=list(STAGES), choices=list(STAGES))
    args = parser.parse_args(argv)
    dirs = {"shipped": Path(args.shipped), "second_run": Path(args.second_run)}
    results = {}
    for stage in args.stages:
        where, shipped_log, second_log, what = STAGES[stage]
        results[stage] = {"what": what, **compare(dirs[where] / shipped_log, dirs["second_run"] / second_log)}
    if args.record_weights:
        record_weights(Path(args.record_weights), dirs["second_run"] / WEIGHTS_RECORD)
    weights = compare_weights(dirs["second_run"] / WEIGHTS_RECORD)
    table = markdown(results)
    print(table)
    if weights:
        print()
        print(weights_markdown(weights))
    report = {
        "command": "python benchmarks/training_repro.py",
        "inputs": {"shipped": _relative(args.shipped), "second_run": _relative(args.second_run)},
        "second_run_provenance": "benchmarks/training_repro/README.md (machine, date, versions, device commands)",
        "window": f"last {WINDOW:.0%} of each stage's steps",
        "results": results,
        "fine_tune_weights": weights,
        "all_within_noise": all(r["within_noise"] for r in results.values()),
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    return 0 if report["all_within_noise"] else 1


if __name__ == "__main__":
    sys.exit(main())
