"""Build benchmarks/NANOBENCH.md (the paper's Table 1 and Table 3 layouts at nano scale, with paired statistics).

Reads only the reports written by `python -m mimir bench` and the training logs; it generates nothing, so it runs on
any machine (about half a minute on 2 CPU cores for the full reports: the bootstrap draws 10,000 resamples a cell):

    .venv/bin/python benchmarks/nanobench_tables.py [--reports benchmarks/nanobench] [--out benchmarks/NANOBENCH.md]

Inputs in --reports:
- `ft_<fusion_type>.json.gz` for the 7 fusion types, all fine-tuned from one CogVideoX-nano with the same data,
  budget and seed (`ft_t5_only` is the CogVideoX-nano control, `ft_mimir` is Mimir-nano);
- `ft_mimir_llm_off.json.gz`: Mimir-nano with its LLM branch zeroed at inference (`--llm-branch off`);
- `train_logs/losses_<fusion_type>.csv` (`mimir.train.checkpoint.LossLog`) and, when present,
  `train_logs/args_<fusion_type>.json`; the curves are drawn to `loss_curves.png` when matplotlib is installed.

Every comparison pairs videos on (spec id, wording split, seed) (`mimir.bench.paired`). The paper's five ablation
claims and the issue's targets (`CLAIMS`, `TARGETS`, here) are judged by the rules of `mimir.bench.claims`, written
before any result was read; the markdown prints the rules before the results.
"""

import argparse
import csv
import json
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mimir.bench import claims as claims_rules
from mimir.bench.claims import CLAIM_RULE, RULES, Claim, ClaimResult, ClaimTest, Target
from mimir.bench.paired import ALL, N_RESAMPLES, POOLED, PairedResult, compare_reports, method
from mimir.bench.report import QUALITY_KEYS, load_report
from mimir.train import video_recipe_options


HERE = Path(__file__).resolve().parent
REPO = HERE.parent

FUSION_TYPES = ("t5_only", "direct_add", "norm", "norm_ss", "zeroconv", "zeroconv_ss", "mimir")
CONTROL, MIMIR, LLM_OFF = "t5_only", "mimir", "mimir_llm_off"
VARIANTS = FUSION_TYPES + (LLM_OFF,)
LABEL = {
    CONTROL: "CogVideoX-nano control",
    MIMIR: "Mimir-nano",
    LLM_OFF: "Mimir-nano, LLM branch off",
}

# Row order: the paper's text-faithfulness dimensions first, then the nano world's own.
DIMENSIONS = (
    "object_class", "multiple_objects", "color", "spatial_relationship", "count",
    "motion", "temporal_order", "appearance", "lighting",
)  # fmt: skip
DIM_LABEL = {
    "object_class": "object class",
    "multiple_objects": "multiple objects",
    "color": "colour",
    "spatial_relationship": "spatial relationship",
    "count": "count",
    "motion": "motion",
    "temporal_order": "temporal order",
    "appearance": "appearance",
    "lighting": "lighting",
    ALL: "**all dimensions**",
}
SPLIT_LABEL = {"train": "training wordings", "heldout": "held-out wordings", POOLED: "both wordings pooled"}
DESIGN_SPECS, DESIGN_SEEDS = 120, 2  # the design: every spec of a suite, at least 2 seeds

# ------------------------------------------------------------------------------------------ the paper's own figures
# arXiv 2412.03085, Tables 1 and 3: CogVideoX-5B scale, VBench, 500K training clips.
PAPER_TABLE1 = {
    "CogVideoX-5B": {
        "background consistency": 95.60, "aesthetic quality": 60.62, "imaging quality": 61.35,
        "object class": 87.82, "multiple objects": 65.70, "colour consistency": 84.17,
        "spatial relationship": 64.86, "temporal style": 25.86,
    },
    "Mimir": {
        "background consistency": 97.68, "aesthetic quality": 62.92, "imaging quality": 63.91,
        "object class": 92.87, "multiple objects": 85.29, "colour consistency": 86.50,
        "spatial relationship": 78.67, "temporal style": 26.22,
    },
}  # fmt: skip
# The VBench column each nano dimension is set beside. Temporal style (VBench: text-described camera motion and
# temporal effects, scored with ViCLIP) is the loosest match: the nano world's motion is an object's direction.
VBENCH_COLUMN = {
    "object_class": "object class",
    "multiple_objects": "multiple objects",
    "color": "colour consistency",
    "spatial_relationship": "spatial relationship",
    "motion": "temporal style",
}
VBENCH_QUALITY = {"background_consistency": "background consistency", "imaging_quality": "imaging quality"}
PAPER_TABLE3_COLUMNS = ("object_class", "multiple_objects", "spatial_relationship")
PAPER_TABLE3 = {  # our fusion_type: (paper's row name, object class, multiple objects, spatial relationship)
    "t5_only": ("baseline (T5 only)", 87.82, 65.70, 64.86),
    "direct_add": ("+ decoder-only, direct addition", 4.97, 0.00, 2.36),
    "norm": ("+ decoder-only + Norm", 85.50, 65.24, 59.28),
    "zeroconv": ("+ decoder-only + Zero-Conv", 92.03, 84.98, 69.17),
    "zeroconv_ss": ("+ Zero-Conv + Semantic Stabilizer", 91.21, 84.47, 70.16),
    "mimir": ("Mimir (all)", 92.87, 85.29, 78.67),
}  # `norm_ss` has no row in the paper


def paper_figure(variant: str, dimension: str) -> float | None:
    row = PAPER_TABLE3.get(variant)
    if row is None or dimension not in PAPER_TABLE3_COLUMNS:
        return None
    return row[1 + PAPER_TABLE3_COLUMNS.index(dimension)]


# --------------------------------------------- claims and targets (declared first; rules: mimir/bench/claims.py)
CLAIMS: tuple[Claim, ...] = (
    Claim(
        "collapse",
        "Direct addition collapses (object class).",
        (ClaimTest("direct_add", CONTROL, "object_class", "collapse"),),
    ),
    Claim(
        "norm",
        "Norm alone ≈ baseline.",
        tuple(ClaimTest("norm", CONTROL, d, "equivalent") for d in (*PAPER_TABLE3_COLUMNS, ALL)),
    ),
    Claim(
        "zeroconv",
        "Zero-Conv gives the largest single gain (multiple objects, and the mean over dimensions).",
        tuple(
            ClaimTest("zeroconv", a, d, "higher") for a in ("direct_add", "norm") for d in ("multiple_objects", ALL)
        ),
    ),
    Claim(
        "stabilizer",
        "The Semantic Stabilizer lifts spatial relationships.",
        tuple(
            ClaimTest(b, a, "spatial_relationship", "higher")
            for b, a in (("norm_ss", "norm"), ("zeroconv_ss", "zeroconv"), ("mimir", "zeroconv"))
        ),
    ),
    Claim(
        "noninferior",
        "Full Mimir ≥ baseline on every dimension (non-inferiority).",
        tuple(ClaimTest(MIMIR, CONTROL, d, "noninferior") for d in DIMENSIONS),
    ),
)
TARGETS: tuple[Target, ...] = (
    Target("heldout", "Mimir-nano beats the control on held-out wordings, overall", MIMIR, CONTROL, ALL, "heldout",
           5.0, None),
    Target("motion", "… on held-out motion", MIMIR, CONTROL, "motion", "heldout", 15.0, None),
    Target("temporal", "… on held-out temporal order", MIMIR, CONTROL, "temporal_order", "heldout", 15.0, None),
    Target("train", "Mimir-nano is not worse on training wordings", MIMIR, CONTROL, ALL, "train", None, 2.0),
    Target("reliance", "Zeroing the LLM branch costs Mimir-nano on held-out wordings (reliance = on − off)", MIMIR,
           LLM_OFF, ALL, "heldout", 5.0, None),
)  # fmt: skip


# ------------------------------------------------------------------------------------------------------- loading
def report_path(reports_dir: Path, variant: str) -> Path:
    return reports_dir / f"ft_{variant}.json.gz"


def check_settings(variant: str, report: dict[str, Any], path: Path) -> None:
    """A report must be what its file name says: the fusion type (when recorded) and the LLM-branch switch."""
    s = report["settings"]
    fusion = MIMIR if variant == LLM_OFF else variant
    if s.get("ground_truth"):
        raise ValueError(f"{path}: a ground-truth report, not a model's")
    if s.get("fusion_type") not in (None, fusion):
        raise ValueError(f"{path}: settings say fusion_type={s['fusion_type']!r}, the file name says {fusion!r}")
    branch = "off" if variant == LLM_OFF else "on"
    if s.get("llm_branch", "on") != branch:
        raise ValueError(f"{path}: settings say llm_branch={s.get('llm_branch')!r}, the file name says {branch!r}")


def load_variants(reports_dir: Path) -> dict[str, dict[str, Any]]:
    """The reports present in `reports_dir`, by variant name (fusion type or LLM_OFF)."""
    reports = {}
    for variant in VARIANTS:
        path = report_path(reports_dir, variant)
        if path.exists():
            reports[variant] = load_report(path)
            check_settings(variant, reports[variant], path)
    return reports


@dataclass(frozen=True)
class Losses:
    """A training run's loss log: the figures Table 3 prints."""

    steps: np.ndarray  # (R,) logged steps
    loss: np.ndarray  # (R,) interval-mean loss where logged (`loss_mean`), else the step's own loss

    @property
    def final(self) -> float:
        return float(self.loss[-1])

    @property
    def last_quarter(self) -> float:
        """Mean of the logged losses over the last quarter of the steps (less noisy than the final row)."""
        return float(self.loss[self.steps > 0.75 * self.steps[-1]].mean())


def read_losses(path: Path) -> Losses:
    """`losses_<t>.csv` rows (step, loss, loss_mean?, lr, seconds); a step logged twice (a resume) keeps the last."""
    rows: dict[int, float] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            value = r.get("loss_mean") or r["loss"]
            rows[int(r["step"])] = float(value)
    if not rows:
        raise ValueError(f"{path}: no rows")
    steps = sorted(rows)
    return Losses(np.array(steps), np.array([rows[s] for s in steps]))


def plot_losses(losses: dict[str, Losses], path: Path) -> Path | None:
    """Loss curves of the fusion types to a PNG; None when matplotlib is not installed (a dev dependency only)."""
    try:  # matplotlib is in requirements-dev.txt, not the runtime's: the tables must build without it
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4), dpi=120)
    for t in FUSION_TYPES:
        if t in losses:
            ax.plot(losses[t].steps, losses[t].loss, label=t, linewidth=1.2)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (interval mean)")
    ax.set_yscale("log")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, metadata={"Software": None})  # no version stamp: the same logs give the same bytes
    plt.close(fig)
    return path


class Comparisons:
    """Paired comparisons between reports, computed once each: (b, a) -> {(dimension, split): PairedResult}."""

    def __init__(self, reports: dict[str, dict[str, Any]], n_resamples: int = N_RESAMPLES, seed: int = 0):
        self.reports, self.n_resamples, self.seed = reports, n_resamples, seed
        self._cache: dict[tuple[str, str], dict[tuple[str, str], PairedResult]] = {}

    def __call__(self, b: str, a: str) -> dict[tuple[str, str], PairedResult] | None:
        """None when either report is missing; raises ValueError (naming both) when they do not pair up."""
        if a not in self.reports or b not in self.reports:
            return None
        if (b, a) not in self._cache:
            try:
                self._cache[b, a] = compare_reports(
                    self.reports[a]["videos"], self.reports[b]["videos"], self.n_resamples, self.seed
                )
            except ValueError as e:
                raise ValueError(f"ft_{b} vs ft_{a}: {e}") from e
        return self._cache[b, a]

    def cell(self, b: str, a: str, dimension: str, split: str) -> PairedResult | None:
        cells = self(b, a)
        return None if cells is None else cells.get((dimension, split))


# ---------------------------------------------------------------------------------------------------- formatting
def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def fmt_p(p: float) -> str:
    if p >= 0.9995:
        return "1"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def fmt_diff(r: PairedResult) -> str:
    return f"{r.diff:+.1f} [{r.ci_low:+.1f}, {r.ci_high:+.1f}]"


def fmt_paper(x: float | None) -> str:
    return "—" if x is None else f"{x:.2f}"


def present_dims(cells: dict[tuple[str, str], PairedResult]) -> list[str]:
    seen = {d for d, _ in cells}
    return [d for d in DIMENSIONS if d in seen] + [ALL]


# ------------------------------------------------------------------------------------------------ provenance
def device_root(args: dict[str, Any]) -> str:
    """The repository root on the machine that trained (the prefix of its `assets/` path), to print paths relative."""
    for key in ("init_transformer", "vae", "output_dir"):
        value = str(args.get(key) or "")
        for marker in ("/mimir/assets/", "/assets/", "/runs/"):
            if marker in value:
                return value.split(marker)[0] + "/"
    return ""


def rel(value: Any, root: str) -> Any:
    return value[len(root) :] if root and isinstance(value, str) and value.startswith(root) else value


def suites_flag(suites: list[str]) -> str:
    """The --suite flags of a report; written as a shell glob when they are exactly the two split folders."""
    dirs = sorted({str(Path(p).parent) for p in suites}, key=lambda d: d.endswith("heldout"))
    names = {Path(p).name for p in suites}
    if len(dirs) == 2 and all(f"/{s}" in "".join(dirs) for s in ("train", "heldout")):
        expected = [f"{d}/{n}" for d in dirs for n in sorted(names)]
        if sorted(suites) == sorted(expected):
            return f"$(printf -- '--suite %s ' {' '.join(f'{d}/*.jsonl' for d in dirs)})"
    return " ".join(f"--suite {shlex.quote(p)}" for p in suites)


def bench_command(report: dict[str, Any], out_name: str, root: str) -> str:
    """`python -m mimir bench ...` rebuilt from a report's settings (paths made relative to the repository)."""
    s = report["settings"]
    parts = ["python -m mimir bench", suites_flag(s["suite"]), f"--model {s['model']}"]
    for key in ("fusion_type", "weights", "num_inference_steps", "guidance_scale"):
        if s.get(key) is not None:
            parts.append(f"--{key.replace('_', '-')} {shlex.quote(str(rel(s[key], root)))}")
    if s.get("llm_branch", "on") != "on":
        parts.append(f"--llm-branch {s['llm_branch']}")
    parts.append(f"--videos-per-prompt {s['videos_per_prompt']}")
    if s.get("limit") is not None:
        parts.append(f"--limit {s['limit']}")
    for key in ("batch_size", "workers"):  # they change the speed, not the videos
        if s.get(key, 1) != 1:
            parts.append(f"--{key.replace('_', '-')} {s[key]}")
    if s.get("seed"):
        parts.append(f"--seed {s['seed']}")
    parts.append(f"--out {out_name}")
    return " ".join(parts)


def train_command(args: dict[str, Any], root: str) -> str:
    """`python -m mimir train <stage> ...` rebuilt from a run's args.json (every flag the run read, paths
    relative)."""
    parts = [f"python -m mimir train {args.get('stage', 'dit')}"]
    # The `--data` recipe's options are recorded in every args.json since they joined the parser, but a nano run
    # (no --data) never reads them, so its command leaves them out.
    skip = video_recipe_options() if args.get("data") is None else set()
    for key, value in args.items():
        if key == "stage" or value is None or key in skip:
            continue
        parts.append(f"--{key.replace('_', '-')} {shlex.quote(str(rel(value, root)))}")
    return " ".join(parts)


def per_fusion_type(commands: dict[str, str]) -> list[str]:
    """One shell loop over the fusion types when the commands differ only by the type's name, else one line each."""

    def template(t: str, c: str) -> str:
        # the type's name as a flag value or as a path suffix (runs/ft_norm, ft_norm.json.gz), never a prefix of a
        # longer name (norm_ss) nor other words ("python -m mimir")
        c = c.replace(f"--fusion-type {t} ", "--fusion-type $T ")
        return re.sub(rf"_{re.escape(t)}(?=[ .]|$)", "_$T", c)

    templates = {template(t, c) for t, c in commands.items()}
    if len(commands) > 1 and len(templates) == 1 and "$T" in next(iter(templates)):
        return [f"for T in {' '.join(commands)}; do", f"  {next(iter(templates))}", "done"]
    return list(commands.values())


def environment_lines(reports: dict[str, dict[str, Any]]) -> list[str]:
    """One bullet per distinct machine and versions among the reports (what the bullet prints: a commit or a thread
    count that differs does not split them)."""
    groups: dict[str, list[str]] = {}
    for name, r in reports.items():
        env = r["environment"]
        pkgs = ", ".join(f"{p} {v}" for p, v in sorted(env.get("packages", {}).items()) if v)
        gpu = env.get("cuda") or "no GPU (CPU)"
        line = f"{gpu}, {env.get('cpu_count')} CPU cores, Python {env.get('python')}, {env.get('platform')}; {pkgs}"
        groups.setdefault(line, []).append(f"ft_{name}")
    return [f"- {'all reports' if len(groups) == 1 else ', '.join(names)}: {line}" for line, names in groups.items()]


def coverage_lines(reports: dict[str, dict[str, Any]]) -> list[str]:
    """Specs per dimension x split and seeds per spec of every report, against the issue's design."""
    rows, short = [], []
    for name, r in reports.items():
        specs: dict[tuple[str, str], set[str]] = {}
        seeds: dict[tuple[str, str], set[int]] = {}
        for v in r["videos"]:
            specs.setdefault((v["dimension"], v["split"]), set()).add(v["id"])
            seeds.setdefault((v["id"], v["split"]), set()).add(v["seed"])
        n_specs = sorted({len(s) for s in specs.values()})
        n_seeds = sorted({len(s) for s in seeds.values()})
        rows.append([
            f"`{report_path(Path(''), name).name}`",
            LABEL.get(name, f"`{name}`"),
            str(len(r["videos"])),
            str(len(specs)),
            "–".join(map(str, (n_specs[0], n_specs[-1]))) if n_specs[0] != n_specs[-1] else str(n_specs[0]),
            "–".join(map(str, (n_seeds[0], n_seeds[-1]))) if n_seeds[0] != n_seeds[-1] else str(n_seeds[0]),
            f"{r.get('seconds', '?')}",
        ])  # fmt: skip
        if n_specs[0] < DESIGN_SPECS or n_seeds[0] < DESIGN_SEEDS:
            short.append(f"`ft_{name}`")
    lines = md_table(
        ["report", "model", "videos", "dimension x split cells", "specs per cell", "seeds per spec", "seconds"], rows
    )
    if short:
        lines += [
            "",
            f"**Below the issue's design** ({DESIGN_SPECS} specs per dimension and split, ≥ {DESIGN_SEEDS} seeds): "
            + ", ".join(short)
            + ".",
        ]
    return lines


# ------------------------------------------------------------------------------------------------------ sections
def paired_table(
    cells: dict[tuple[str, str], PairedResult], split: str, label_a: str, label_b: str, paper: bool = False
) -> list[str]:
    """One row per dimension (and all): n, both pass rates, B − A with its CI, McNemar p; optionally the paper's
    Table 1 figures beside."""
    header = ["dimension", "n pairs", f"{label_a} %", f"{label_b} %", f"{label_b} − {label_a} [95% CI]", "McNemar p"]
    if paper:
        header += ["VBench column (paper)", "paper: CogVideoX-5B", "paper: Mimir"]
    rows = []
    for dim in present_dims(cells):
        r = cells.get((dim, split))
        if r is None:
            continue
        row = [DIM_LABEL[dim], str(r.n), f"{r.rate_a:.1f}", f"{r.rate_b:.1f}", fmt_diff(r), fmt_p(r.p_value)]
        if paper:
            col = VBENCH_COLUMN.get(dim)
            row += [col or "—"] + [fmt_paper(PAPER_TABLE1[m].get(col)) for m in ("CogVideoX-5B", "Mimir")]
        rows.append(row)
    return md_table(header, rows)


def quality_table(reports: dict[str, dict[str, Any]], variants: list[str]) -> list[str]:
    """Quality means per model and split, with the paper's two matching VBench quality columns beside."""
    rows = []
    for variant in variants:
        for split in ("train", "heldout", POOLED):
            videos = [v for v in reports[variant]["videos"] if split == POOLED or v["split"] == split]
            rows.append(
                [LABEL.get(variant, variant), SPLIT_LABEL[split], str(len(videos))]
                + [f"{np.mean([v['quality'][q] for v in videos]):.3f}" for q in QUALITY_KEYS]
            )
    lines = md_table(["model", "wordings", "videos", *QUALITY_KEYS], rows)
    aesthetic = {m: PAPER_TABLE1[m]["aesthetic quality"] for m in PAPER_TABLE1}
    paper = [
        f"{VBENCH_QUALITY[q]} {PAPER_TABLE1['CogVideoX-5B'][VBENCH_QUALITY[q]]:.2f} (CogVideoX-5B) vs "
        f"{PAPER_TABLE1['Mimir'][VBENCH_QUALITY[q]]:.2f} (Mimir)"
        for q in QUALITY_KEYS
        if q in VBENCH_QUALITY
    ]
    lines += [
        "",
        "The paper's VBench quality columns (%, VBench's own measures, not ours): "
        + "; ".join(paper)
        + f"; aesthetic quality {aesthetic['CogVideoX-5B']:.2f} vs {aesthetic['Mimir']:.2f} (no nano counterpart)."
        " Ours are classical measures in [0, 1] (SCORER_VALIDATION.md); temporal_flicker "
        "has no column in the paper's Table 1.",
    ]
    return lines


def table3(reports: dict[str, dict[str, Any]], comparisons: Comparisons, split: str) -> list[str]:
    """Table 3 layout on one split: per fusion type and dimension the pass %, and for the variants the paired
    difference vs the control with McNemar p."""
    types = [t for t in FUSION_TYPES if t in reports]
    base = comparisons(types[0], CONTROL) if CONTROL in reports else None
    dims = present_dims(base) if base else []
    header = ["fusion_type", *(DIM_LABEL[d].strip("*") for d in dims)]
    rows = []
    for t in types:
        cells = comparisons(t, CONTROL)
        row = [f"`{t}`" + (" (control)" if t == CONTROL else "")]
        for d in dims:
            r = cells.get((d, split)) if cells else None
            if r is None:
                row.append("—")
            elif t == CONTROL:
                row.append(f"{r.rate_b:.1f}")
            else:
                row.append(f"{r.rate_b:.1f} ({r.diff:+.1f}, p {fmt_p(r.p_value)})")
        rows.append(row)
    return md_table(header, rows)


def table3_summary(
    comparisons: Comparisons, reports: dict[str, dict[str, Any]], losses: dict[str, Losses]
) -> list[str]:
    """Per fusion type: all dimensions pooled and held-out with the paired difference, the training losses and the
    paper's full Table 3 row."""
    header = [
        "fusion_type", "all, pooled %", "vs control [95% CI], p", "all, held-out %", "vs control [95% CI], p",
        "final loss (step)", "last-quarter mean loss",
        *(f"paper: {DIM_LABEL[d]}" for d in PAPER_TABLE3_COLUMNS), "paper's row",
    ]  # fmt: skip
    rows = []
    for t in FUSION_TYPES:
        if t not in reports:
            continue
        cells = comparisons(t, CONTROL)
        row = [f"`{t}`" + (" (control)" if t == CONTROL else "")]
        for split in (POOLED, "heldout"):
            r = cells.get((ALL, split)) if cells else None
            if r is None:
                row += ["—", "—"]
            else:
                row += [f"{r.rate_b:.1f}", "—" if t == CONTROL else f"{fmt_diff(r)}, p {fmt_p(r.p_value)}"]
        loss = losses.get(t)
        row += [f"{loss.final:.4f} ({loss.steps[-1]})", f"{loss.last_quarter:.4f}"] if loss else ["—", "—"]
        row += [fmt_paper(paper_figure(t, d)) for d in PAPER_TABLE3_COLUMNS]
        row.append(PAPER_TABLE3[t][0] if t in PAPER_TABLE3 else "no row in the paper")
        rows.append(row)
    return md_table(header, rows)


def evaluate_claims(comparisons: Comparisons) -> list[ClaimResult]:
    """Every claim of `CLAIMS` judged by the rules of `mimir.bench.claims`."""
    return claims_rules.evaluate_claims(CLAIMS, comparisons.cell)


def claims_lines(claims: list[ClaimResult]) -> list[str]:
    lines = []
    for c in claims:
        lines += [f"**{c.claim.text}** — **{c.verdict}**", ""]
        rows = []
        for test, r, verdict in c.results:
            pa, pb = paper_figure(test.a, test.dimension), paper_figure(test.b, test.dimension)
            paper = "—" if pa is None or pb is None else f"{pa:.2f} → {pb:.2f}"
            if r is None:
                rows.append([f"`{test.b}` vs `{test.a}`", DIM_LABEL[test.dimension], test.kind, *["—"] * 5, paper,
                             verdict])  # fmt: skip
                continue
            rows.append([
                f"`{test.b}` vs `{test.a}`", DIM_LABEL[test.dimension], test.kind, str(r.n),
                f"{r.rate_a:.1f} → {r.rate_b:.1f}", fmt_diff(r), fmt_p(r.p_value), f"{r.b_only} / {r.a_only}",
                paper, verdict,
            ])  # fmt: skip
        lines += md_table(
            ["B vs A", "dimension", "test", "n pairs", "A → B %", "B − A [95% CI]", "McNemar p",
             "discordant B / A", "paper A → B", "verdict"],
            rows,
        )  # fmt: skip
        lines.append("")
    return lines


def evaluate_targets(comparisons: Comparisons) -> list[tuple[Target, PairedResult | None, str]]:
    return claims_rules.evaluate_targets(TARGETS, comparisons.cell)


def targets_lines(targets: list[tuple[Target, PairedResult | None, str]]) -> list[str]:
    rows = []
    for t, r, status in targets:
        figure = "—" if r is None else f"{fmt_diff(r)}, p {fmt_p(r.p_value)} (n = {r.n})"
        cell = f"{DIM_LABEL[t.dimension].strip('*')}, {SPLIT_LABEL[t.split]}"
        rows.append([t.text, f"`{t.b}` − `{t.a}`", cell, t.rule(), figure, f"**{status}**"])
    lines = md_table(["target", "difference", "cell", "rule", "measured [95% CI]", "status"], rows)
    met = [t.key for t, _, s in targets if s == "met"]
    missed = [t.key for t, _, s in targets if s == "not met"]
    missing = [t.key for t, _, s in targets if s == "not available"]
    lines += [
        "",
        f"Met: {', '.join(met) or 'none'}. Not met: {', '.join(missed) or 'none'}."
        + (f" Not measured (reports missing): {', '.join(missing)}." if missing else ""),
    ]
    return lines


def rules_lines() -> list[str]:
    lines = [
        "These rules were fixed before any result was read; the tables below only apply them.",
        "",
        "**Paired statistics.** " + method(),
        "",
        "**Tests of a claim** (B and A are two fine-tuned models; B − A in points):",
        "",
    ]
    lines += md_table(
        ["test", "confirmed when", "refuted when", "inconclusive"],
        [[k, *RULES[k]] for k in ("higher", "collapse", "equivalent", "noninferior")],
    )
    lines += ["", CLAIM_RULE, "", "**The five claims and their tests** (both wordings pooled):", ""]
    for c in CLAIMS:
        tests = "; ".join(f"`{t.b}` vs `{t.a}` on {DIM_LABEL[t.dimension].strip('*')} ({t.kind})" for t in c.tests)
        lines.append(f"- {c.text} {tests}.")
    lines += ["", "**The issue's targets:**", ""]
    for t in TARGETS:
        lines.append(
            f"- {t.text}: `{t.b}` − `{t.a}`, {DIM_LABEL[t.dimension].strip('*')}, {SPLIT_LABEL[t.split]}: {t.rule()}."
        )
    return lines


# ---------------------------------------------------------------------------------------------------------- main
def build_markdown(
    reports_dir: Path, regenerate: str, n_resamples: int = N_RESAMPLES, plot: bool = True, out_dir: Path = HERE
) -> str:
    """The whole NANOBENCH.md text from the reports in `reports_dir` (and the loss plot beside them when `plot`);
    `out_dir` is where the markdown goes, for the plot's relative link."""
    reports = load_variants(reports_dir)
    if not reports:
        raise FileNotFoundError(f"no ft_<fusion_type>.json.gz reports in {reports_dir}")
    comparisons = Comparisons(reports, n_resamples)
    logs = reports_dir / "train_logs"
    losses = {t: read_losses(logs / f"losses_{t}.csv") for t in FUSION_TYPES if (logs / f"losses_{t}.csv").exists()}
    train_args = {
        t: json.loads((logs / f"args_{t}.json").read_text())
        for t in FUSION_TYPES
        if (logs / f"args_{t}.json").exists()
    }
    root = next((device_root(a) for a in train_args.values() if device_root(a)), "")
    rel_dir = reports_dir.resolve().relative_to(REPO) if reports_dir.resolve().is_relative_to(REPO) else reports_dir
    video = next(iter(reports.values()))["settings"].get("video", {})

    lines = [
        "# NanoBench: the paper's Table 1 and Table 3 at nano scale, with paired statistics",
        "",
        "Text faithfulness of Mimir-nano against a CogVideoX-nano control (Table 1 layout), of Mimir-nano with "
        "its LLM branch switched off (reliance), and of every token-fuser variant (Table 3 layout). Every model is "
        "fine-tuned from one CogVideoX-nano with the same data, budget and seed; `t5_only` is that fine-tune "
        "without the LLM branch, the control. Videos are scored by the classical NanoBench scorer (`mimir/bench/`; "
        "its validation against ground truth is in [SCORER_VALIDATION.md](SCORER_VALIDATION.md)). A video passes "
        "when the check of its spec's dimension passes. *Training wordings* (`prompts/bench/train/`) are phrasings "
        "of the kind the models were trained on; *held-out wordings* (`prompts/bench/heldout/`) say the same scenes "
        "in phrasings training never saw. The paper's own figures (CogVideoX-5B scale, VBench, 500K training clips) "
        "are printed beside ours and labelled *paper*; they are not comparable number for number.",
        "",
        f"Regenerate this file (reads the reports only, generates nothing): `{regenerate}`",
        "",
        "## Method and decision rules",
        "",
        *rules_lines(),
        "",
        "## How the numbers were produced",
        "",
        "Machine and versions, from the reports' `environment`:",
        "",
        *environment_lines(reports),
        "",
        f"Video settings (the pipeline's defaults, as recorded): {video.get('num_frames')} frames of "
        f"{video.get('height')}x{video.get('width')}, {video.get('num_inference_steps')} sampling steps, guidance "
        f"scale {video.get('guidance_scale')}; video k of a spec has seed `video_seed(spec, k)` "
        "(`mimir.bench.cli`), the same in every report, which is what pairs the videos.",
        "",
        *coverage_lines(reports),
        "",
    ]
    if train_args:
        lines += [
            "Fine-tuning (arguments as recorded in `train_logs/args_<fusion_type>.json`; paths relative to the "
            "training machine's repository root):",
            "",
            "```bash",
            *per_fusion_type({t: train_command(a, root) for t, a in train_args.items()}),
            "```",
            "",
        ]
    bench = {t: bench_command(r, f"{rel_dir}/{report_path(Path(''), t).name}", root) for t, r in reports.items()}
    lines += [
        "Benchmark commands, from the reports' `settings`:",
        "",
        "```bash",
        *per_fusion_type({t: c for t, c in bench.items() if t != LLM_OFF}),
        *([bench[LLM_OFF]] if LLM_OFF in bench else []),
        "```",
        "",
    ]

    # (b) Table 1
    lines += ["## Table 1 layout: Mimir-nano vs the CogVideoX-nano control", ""]
    t1 = comparisons(MIMIR, CONTROL)
    if t1 is None:
        lines += [f"Not available: needs `ft_{MIMIR}.json.gz` and `ft_{CONTROL}.json.gz`.", ""]
    else:
        lines += [
            "The paper's VBench columns are set beside the nano dimension closest to each (VBench column); the "
            "paper has no counterpart of count, temporal order, appearance or lighting. *Temporal style* (VBench: "
            "camera motion and temporal effects named in the text) beside *motion* (an object's direction) is the "
            "loosest match.",
            "",
        ]
        for split in ("heldout", "train", POOLED):
            lines += [f"### {SPLIT_LABEL[split].capitalize()}", ""]
            lines += paired_table(t1, split, "control", "Mimir-nano", paper=True)
            lines.append("")
        lines += ["Quality means (1 is best):", "", *quality_table(reports, [CONTROL, MIMIR]), ""]

    # (c) reliance
    lines += ["## LLM-branch reliance: Mimir-nano with the branch on vs off", ""]
    reliance = comparisons(MIMIR, LLM_OFF)
    if reliance is None:
        lines += [f"Not available: needs `ft_{MIMIR}.json.gz` and `ft_{LLM_OFF}.json.gz`.", ""]
    else:
        lines += [
            "The same Mimir-nano weights, the same videos' seeds; `--llm-branch off` zeroes the LLM branch's "
            "contribution (the LLM tokens e_beta and the stabilizer tokens e_s) at inference. Reliance = on − off.",
            "",
        ]
        for split in ("heldout", "train", POOLED):
            lines += [f"### {SPLIT_LABEL[split].capitalize()}", ""]
            lines += paired_table(reliance, split, "off", "on")
            lines.append("")

    # (d) Table 3
    lines += ["## Table 3 layout: token-fuser ablation", ""]
    if CONTROL not in reports:
        lines += [f"Not available: needs `ft_{CONTROL}.json.gz`.", ""]
    else:
        lines += [
            "Cells: pass % (paired difference vs the `t5_only` control in points, McNemar p).",
            "",
            "### Both wordings pooled",
            "",
            *table3(reports, comparisons, POOLED),
            "",
            "### Held-out wordings",
            "",
            *table3(reports, comparisons, "heldout"),
            "",
            "### Summary, training losses and the paper's Table 3",
            "",
            "*final loss*: the last logged interval-mean loss (`loss_mean`, the mean over the steps since the "
            "previous row; the step's own loss where a log has no `loss_mean`); *last-quarter mean*: the mean of the "
            "logged losses over the last quarter of the steps. *paper*: the paper's Table 3 (VBench %, CogVideoX-5B "
            "scale); `norm_ss` has no row there.",
            "",
            *table3_summary(comparisons, reports, losses),
            "",
        ]
    if losses:
        png = plot_losses(losses, reports_dir / "loss_curves.png") if plot else None
        if png is not None:
            link = Path(os.path.relpath(png.resolve(), out_dir.resolve())).as_posix()
            lines += [f"![training loss curves of the fusion types]({link})", ""]
        else:
            lines += [
                "No loss plot: matplotlib is not installed here (`make install-dev` installs it). The curves' "
                f"rows are in `{rel_dir}/train_logs/losses_<fusion_type>.csv`.",
                "",
            ]

    # (e) claims
    lines += [
        "## The paper's five ablation claims",
        "",
        "Judged by the rules declared above. What the fuser variants share here, and the paper's do not: every "
        "variant with an LLM branch reads the same seven SmolLM2 hidden layers, each normalised (parameter-free "
        "LayerNorm) and mixed with learned softmax weights before the variant's own parts "
        "(`TokenFuser.mix_llm_layers`, `num_llm_layers=7`). So `direct_add` adds a linear projection of *normalised* "
        "features, not the raw last-layer states whose range the paper blames for the collapse, and `norm` normalises "
        "a mix of normalised layers again. The collapse claim is therefore tested under our layer mix; a fine-tune "
        "with `--llm-hidden-layers -1` (one raw layer, no normalisation in `direct_add`) would test it as the paper "
        "states it. Variants without a report are marked *not available*; the campaign trains them with "
        "`scripts/nano_fusion_campaign.sh`.",
        "",
    ]
    lines += claims_lines(evaluate_claims(comparisons))

    # (f) targets
    lines += ["## The issue's targets", "", *targets_lines(evaluate_targets(comparisons)), ""]
    lines += [
        "Raw per-video verdicts (checks, quality, seed, prompt) are in the reports beside this file "
        f"(`{rel_dir}/`); nothing here was tuned on the benchmark suites.",
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(args: argparse.Namespace) -> None:
    regenerate = ".venv/bin/python benchmarks/nanobench_tables.py"
    if Path(args.reports).resolve() != (HERE / "nanobench").resolve():
        regenerate += f" --reports {shlex.quote(str(args.reports))}"
    text = build_markdown(Path(args.reports), regenerate, out_dir=Path(args.out).parent)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", default=str(HERE / "nanobench"), help="folder of the reports")
    parser.add_argument("--out", default=str(HERE / "NANOBENCH.md"), help="markdown file to write")
    main(parser.parse_args())
