"""Build benchmarks/NANOBENCH.md (the paper's Table 1 and Table 3 layouts at nano scale) from NanoBench reports.

Reads only the JSON reports written by `python -m mimir bench` (and the training logs of the ablation runs); it
generates nothing, so it runs in a second on any machine:

    .venv/bin/python benchmarks/nanobench_tables.py [--reports benchmarks/nanobench] [--out benchmarks/NANOBENCH.md]

Inputs in --reports: table1_cogvideox.json, table1_mimir.json, ablation_<fusion_type>.json (any subset of the
fusion types), train_logs/{args,losses}_<fusion_type>.{json,csv}.
"""

import argparse
import csv
import json
import re
import shlex
from pathlib import Path
from typing import Any

from mimir.bench.report import QUALITY_KEYS, aggregate, wilson_interval


HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Row order of the tables: the paper's text-faithfulness dimensions first, then the nano world's extra ones.
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
}
FUSION_ROWS = ("t5_only", "direct_add", "norm", "norm_ss", "zeroconv", "zeroconv_ss", "mimir")
FUSION_LABEL = {
    "t5_only": "t5_only (control)",
    "direct_add": "direct_add",
    "norm": "norm (norm & scale)",
    "norm_ss": "norm_ss (+ stabilizer)",
    "zeroconv": "zeroconv",
    "zeroconv_ss": "zeroconv_ss (+ stabilizer)",
    "mimir": "mimir (norm & scale + zero-conv + stabilizer)",
}
SPLITS = ("train", "heldout")
SPLIT_LABEL = {"train": "training wordings", "heldout": "held-out wordings"}

# The only paper figures this file prints. Source: ../shared/DESIGN.md, quoting the paper's Table 3 (arXiv
# 2412.03085). Each is a claim about one fuser change on one VBench dimension: (dimension, before, after, claim).
# No figure of the paper's Table 1 was available here, so the Table 1 layout prints "—" in its paper column.
PAPER_TABLE3 = {
    "direct_add": ("object_class", 87.8, 5.0, "direct addition collapses object class"),
    "zeroconv": ("multiple_objects", 65.7, 85.0, "zero-conv gives the biggest gain, on multiple objects"),
}
PAPER_STABILIZER = ("spatial_relationship", 69.2, 78.7, "the semantic stabilizer lifts spatial relationship")
PAPER_SOURCE = "paper Table 3 (arXiv 2412.03085), as quoted in the project's DESIGN.md"


# ----------------------------------------------------------------------------------------------------------- loading
def load_report(path: Path) -> dict[str, Any]:
    """A `python -m mimir bench` report; raises ValueError naming the file if a key is missing."""
    report = json.loads(path.read_text())
    missing = [k for k in ("settings", "environment", "videos") if k not in report]
    if missing:
        raise ValueError(f"{path}: not a NanoBench report (missing {missing})")
    return report


def summarise(report: dict[str, Any], split: str | None = None) -> dict[str, dict[str, Any]]:
    """`aggregate` over the report's videos, of one wording split (None: both pooled)."""
    return aggregate([v for v in report["videos"] if split is None or v.get("split") == split])


def overall(summary: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """All videos of a summary as one pass rate with its Wilson interval (= the mean over dimensions when every
    dimension has the same n, as in our runs)."""
    k = sum(s["passed"] for s in summary.values())
    n = sum(s["n"] for s in summary.values())
    lo, hi = wilson_interval(k, n)
    return {"n": n, "passed": k, "pass_rate": k / n if n else 0.0, "ci_low": lo, "ci_high": hi}


def read_losses(path: Path) -> list[tuple[int, float]]:
    """(step, loss) rows of a training losses.csv, one per step (a resumed run may log a step twice)."""
    rows: dict[int, float] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            rows[int(r["step"])] = float(r["loss"])
    return sorted(rows.items())


# -------------------------------------------------------------------------------------------------------- formatting
def cell(s: dict[str, Any] | None, digits: int = 1) -> str:
    """'85.0 [64.0, 94.8]': pass % and its 95% Wilson interval."""
    if s is None:
        return "—"
    f = f"{{:.{digits}f}}"
    return f"{f.format(100 * s['pass_rate'])} [{f.format(100 * s['ci_low'])}, {f.format(100 * s['ci_high'])}]"


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]


def separated(a: dict[str, Any], b: dict[str, Any]) -> str:
    """'higher' / 'lower' when a's interval lies wholly above / below b's, else 'overlap'."""
    if a["ci_low"] > b["ci_high"]:
        return "higher"
    if a["ci_high"] < b["ci_low"]:
        return "lower"
    return "overlap"


def device_root(args: dict[str, Any]) -> str:
    """The repository root on the machine that trained (the prefix of its `assets/` path), to print paths relative."""
    for key in ("init_transformer", "vae", "output_dir"):
        value = str(args.get(key) or "")
        for marker in ("/assets/", "/runs/"):
            if marker in value:
                return value.split(marker)[0] + "/"
    return ""


def rel(value: Any, root: str) -> Any:
    return value[len(root) :] if root and isinstance(value, str) and value.startswith(root) else value


def suites_flag(suites: list[str]) -> str:
    """The --suite flags of a report; written as a shell loop when they are exactly the two split folders."""
    by_split = {s: sorted(p for p in suites if f"/{s}/" in p) for s in SPLITS}
    if suites == by_split["train"] + by_split["heldout"] and all(by_split.values()):
        dirs = sorted({str(Path(p).parent) for p in suites}, key=lambda d: d.endswith("heldout"))
        if len(dirs) == 2:
            globs = " ".join(f"{d}/*.jsonl" for d in dirs)
            names = {Path(p).name for p in suites}
            if all({Path(p).name for p in by_split[s]} == names for s in SPLITS):
                return f"$(printf -- '--suite %s ' {globs})"
    return " ".join(f"--suite {shlex.quote(p)}" for p in suites)


def bench_command(report: dict[str, Any], out_name: str, root: str) -> str:
    """`python -m mimir bench ...` rebuilt from a report's settings (paths made relative to the repository)."""
    s = report["settings"]
    parts = ["python -m mimir bench", suites_flag(s["suite"])]
    parts.append("--ground-truth" if s.get("ground_truth") else f"--model {s['model']}")
    for key in ("fusion_type", "weights", "num_inference_steps", "guidance_scale"):
        if s.get(key) is not None:
            parts.append(f"--{key.replace('_', '-')} {shlex.quote(str(rel(s[key], root)))}")
    parts.append(f"--videos-per-prompt {s['videos_per_prompt']}")
    if s.get("limit") is not None:
        parts.append(f"--limit {s['limit']}")
    if s.get("seed"):
        parts.append(f"--seed {s['seed']}")
    parts.append(f"--out {out_name}")
    return " ".join(parts)


def train_command(args: dict[str, Any], root: str) -> str:
    """`python -m mimir train <stage> ...` rebuilt from a run's args.json (every recorded flag, paths relative)."""
    parts = [f"python -m mimir train {args.get('stage', 'dit')}"]
    for key, value in args.items():
        if key == "stage" or value is None:
            continue
        parts.append(f"--{key.replace('_', '-')} {shlex.quote(str(rel(value, root)))}")
    return " ".join(parts)


def per_fusion_type(commands: dict[str, str]) -> list[str]:
    """One shell loop over the fusion types when the commands differ only by the type's name, else one line each."""

    def template(t: str, c: str) -> str:
        # the type's name as a flag value or as a path suffix (runs/ab_norm, ablation_norm.json), never a prefix of
        # a longer name (norm_ss) nor other words ("python -m mimir")
        c = c.replace(f"--fusion-type {t} ", "--fusion-type $T ")
        return re.sub(rf"_{re.escape(t)}(?=[ .]|$)", "_$T", c)

    templates = {template(t, c) for t, c in commands.items()}
    if len(commands) > 1 and len(templates) == 1 and "$T" in next(iter(templates)):
        return [f"for T in {' '.join(commands)}; do", f"  {next(iter(templates))}", "done"]
    return list(commands.values())


# ---------------------------------------------------------------------------------------------------------- sections
def environment_lines(reports: dict[str, dict[str, Any]]) -> list[str]:
    """One bullet per distinct environment among the reports."""
    groups: dict[str, list[str]] = {}
    for name, r in reports.items():
        groups.setdefault(json.dumps(r["environment"], sort_keys=True), []).append(name)
    lines = []
    for env_json, names in groups.items():
        env = json.loads(env_json)
        pkgs = ", ".join(f"{p} {v}" for p, v in env.get("packages", {}).items() if v)
        gpu = env.get("cuda") or "no GPU (CPU)"
        which = "all reports" if len(groups) == 1 else ", ".join(names)
        lines.append(
            f"- {which}: {gpu}, {env.get('cpu_count')} CPU cores, Python {env.get('python')}, "
            f"{env.get('platform')}; {pkgs}"
        )
    return lines


def table1(cog: dict[str, Any], mim: dict[str, Any]) -> tuple[list[str], dict[str, Any]]:
    """Table 1 layout: CogVideoX-nano vs Mimir-nano per dimension, per split and pooled. Returns lines and figures."""
    split_sums = {sp: (summarise(cog, sp), summarise(mim, sp)) for sp in SPLITS}
    pooled = (summarise(cog), summarise(mim))
    header = ["dimension"]
    for sp in SPLITS:
        header += [f"CogVideoX-nano, {SPLIT_LABEL[sp]}", f"Mimir-nano, {SPLIT_LABEL[sp]}"]
    header += ["CogVideoX-nano, pooled", "Mimir-nano, pooled", "n (train + held-out)", "paper"]
    rows = []
    for dim in DIMENSIONS:
        if dim not in pooled[0] and dim not in pooled[1]:
            continue
        row = [DIM_LABEL[dim]]
        for sp in SPLITS:
            row += [cell(split_sums[sp][0].get(dim)), cell(split_sums[sp][1].get(dim))]
        row += [cell(pooled[0].get(dim)), cell(pooled[1].get(dim))]
        ns = [str(split_sums[sp][m].get(dim, {}).get("n", 0)) for m in (0, 1) for sp in SPLITS]
        row.append(" + ".join(ns[:2]) if ns[:2] == ns[2:] else f"{' + '.join(ns[:2])} / {' + '.join(ns[2:])}")
        row.append("—")
        rows.append(row)
    all_row = ["**all dimensions**"]
    for sp in SPLITS:
        all_row += [cell(overall(split_sums[sp][0])), cell(overall(split_sums[sp][1]))]
    all_row += [cell(overall(pooled[0])), cell(overall(pooled[1]))]
    all_row += [" + ".join(str(overall(split_sums[sp][0])["n"]) for sp in SPLITS), "—"]
    rows.append(all_row)
    return md_table(header, rows), {"split": split_sums, "pooled": pooled}


def quality_lines(named: dict[str, dict[str, Any]]) -> list[str]:
    """Mean quality figures (background consistency, temporal flicker, imaging quality) over all videos."""
    rows = []
    for name, report in named.items():
        videos = report["videos"]
        rows.append(
            [name, str(len(videos))]
            + [f"{sum(v['quality'][q] for v in videos) / len(videos):.3f}" for q in QUALITY_KEYS]
        )
    return md_table(["model", "videos", *QUALITY_KEYS], rows)


def table3(ablations: dict[str, dict[str, Any]], losses: dict[str, list[tuple[int, float]]]) -> tuple[list[str], dict]:
    """Table 3 layout: one row per fusion type, pooled per-dimension pass % (0 decimals: n is small), mean, loss."""
    sums = {t: summarise(r) for t, r in ablations.items()}
    dims = [d for d in DIMENSIONS if any(d in s for s in sums.values())]
    header = ["fusion_type", *(DIM_LABEL[d] for d in dims), "mean", "n per dim", "final loss (step)", "paper"]
    rows = []
    for t in FUSION_ROWS:
        if t not in sums:
            continue
        s = sums[t]
        ns = sorted({s[d]["n"] for d in dims if d in s})
        loss = losses.get(t)
        paper = "—"
        if t in PAPER_TABLE3:
            dim, before, after, _ = PAPER_TABLE3[t]
            paper = f"{DIM_LABEL[dim]}: {before:.1f} → {after:.1f}"
        rows.append([
            f"`{t}`" + (" (control)" if t == "t5_only" else ""),
            *(cell(s.get(d), digits=0) for d in dims),
            cell(overall(s), digits=1),
            "/".join(map(str, ns)),
            f"{loss[-1][1]:.4f} ({loss[-1][0]})" if loss else "—",
            paper,
        ])  # fmt: skip
    return md_table(header, rows), sums


def paired_changes(ablations: dict[str, dict[str, Any]], control: str = "t5_only") -> dict[str, tuple[int, int, int]]:
    """Per fusion type vs the control, over videos with the same id (same spec, same seed): (n paired, gained,
    lost) verdicts."""
    if control not in ablations:
        return {}
    # ids repeat across the wording splits (the same scene in two wordings), so a video is (suite, id)
    ref = {(v["suite"], v["id"]): bool(v["pass"]) for v in ablations[control]["videos"]}
    out = {}
    for t, r in ablations.items():
        if t == control:
            continue
        keys = [((v["suite"], v["id"]), bool(v["pass"])) for v in r["videos"]]
        pairs = [(ref[k], p) for k, p in keys if k in ref]
        out[t] = (len(pairs), sum(b and not a for a, b in pairs), sum(a and not b for a, b in pairs))
    return out


def pct(s: dict[str, Any]) -> str:
    return f"{100 * s['pass_rate']:.1f}% [{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}] (n={s['n']})"


def verdict(a: dict[str, Any], b: dict[str, Any]) -> str:
    side = separated(a, b)
    if side == "overlap":
        return "the 95% intervals overlap, so no difference can be claimed at this n"
    return f"the first is {side}, beyond the 95% intervals"


def agreement(
    t1: dict | None, sums3: dict | None, pairs: dict, steps: int | None, final_losses: dict[str, float]
) -> list[str]:
    """The 'Agreement with the paper' section, from the numbers."""
    lines = []
    if t1 is not None:
        cog, mim = t1["pooled"]
        better = [d for d in DIMENSIONS if d in cog and d in mim and separated(mim[d], cog[d]) == "higher"]
        worse = [d for d in DIMENSIONS if d in cog and d in mim and separated(mim[d], cog[d]) == "lower"]
        lines.append(
            "**Table 1 (Mimir-nano vs CogVideoX-nano).** The paper claims that Mimir understands text more "
            "precisely than the CogVideoX it builds on (abstract of arXiv 2412.03085; its per-dimension "
            "figures were not available here). Here, pooled over both wordings (Mimir-nano first):"
        )
        for d in ("object_class", "multiple_objects", "color", "spatial_relationship"):
            if d in cog and d in mim:
                lines.append(
                    f"- {DIM_LABEL[d]}: Mimir-nano {pct(mim[d])} vs CogVideoX-nano {pct(cog[d])}; "
                    f"{verdict(mim[d], cog[d])}."
                )
        oc, om = overall(cog), overall(mim)
        lines.append(f"- all dimensions: Mimir-nano {pct(om)} vs CogVideoX-nano {pct(oc)}; {verdict(om, oc)}.")
        if better or worse:
            lines.append(
                f"- separated beyond the intervals: higher on {[DIM_LABEL[d] for d in better]}, "
                f"lower on {[DIM_LABEL[d] for d in worse]}."
            )
        else:
            lines.append(
                "- On no dimension are the two models separated beyond the 95% intervals, so the nano "
                "results neither confirm nor refute the paper's Table 1 gains."
            )
        tr = {m: overall(t1["split"]["train"][i]) for i, m in enumerate(("cog", "mim"))}
        ho = {m: overall(t1["split"]["heldout"][i]) for i, m in enumerate(("cog", "mim"))}
        lines.append(
            f"- Wording split: on training wordings CogVideoX-nano passes {pct(tr['cog'])} and Mimir-nano "
            f"{pct(tr['mim'])}; on held-out wordings {pct(ho['cog'])} and {pct(ho['mim'])}. Whether the "
            "LLM branch helps with wordings the models were not trained on is the nano world's closest "
            f"analogue of the paper's claim; on held-out wordings (Mimir-nano first) "
            f"{verdict(ho['mim'], ho['cog'])}."
        )
        lines.append("")
    if sums3:
        base = sums3.get("t5_only")
        lines.append(f"**Table 3 (fuser ablation, {steps or '?'} fine-tuning steps from the same CogVideoX-nano).**")
        checks = [
            ("direct_add", "object_class", "lower", "the paper reports a collapse (87.8% → 5.0%)"),
            ("zeroconv", "multiple_objects", "higher", "the paper reports 65.7% → 85.0%"),
            ("mimir", "multiple_objects", "higher", "the paper's full fuser beats the baseline"),
            ("mimir", "spatial_relationship", "higher", "the paper's full fuser beats the baseline"),
        ]
        for t, d, expected, claim in checks:
            if base is None or t not in sums3 or d not in sums3[t] or d not in base:
                continue
            side = separated(sums3[t][d], base[d])
            agrees = "agrees" if side == expected else ("is inconclusive" if side == "overlap" else "disagrees")
            lines.append(
                f"- `{t}` on {DIM_LABEL[d]}: {pct(sums3[t][d])} vs `t5_only` {pct(base[d])}; "
                f"{verdict(sums3[t][d], base[d])} ({claim}; nano {agrees})."
            )
        for without, with_ss in (("norm", "norm_ss"), ("zeroconv", "zeroconv_ss")):
            d = PAPER_STABILIZER[0]
            if without in sums3 and with_ss in sums3 and d in sums3[without] and d in sums3[with_ss]:
                a, b = sums3[with_ss][d], sums3[without][d]
                lines.append(
                    f"- stabilizer on {DIM_LABEL[d]}: `{with_ss}` {pct(a)} vs `{without}` {pct(b)}; "
                    f"{verdict(a, b)} (the paper reports {PAPER_STABILIZER[1]}% → {PAPER_STABILIZER[2]}%)."
                )
        if pairs:
            n = max(n for n, _, _ in pairs.values())
            changed = ", ".join(f"`{t}` +{g} / −{lost}" for t, (_, g, lost) in pairs.items())
            most = max(g + lost for _, g, lost in pairs.values())
            lines.append(
                f"- Video by video (same spec, wording and seed; {n} videos per variant), the verdicts that "
                f"change against the `t5_only` control (gained / lost): {changed}. At most {most} of {n} "
                f"verdicts ({100 * most / n:.0f}%) differ"
                + (": the variants still behave almost exactly like the control." if most <= 0.1 * n else ".")
            )
        lines.append("")
    spread = ""
    if len(final_losses) > 1:
        lo, hi = min(final_losses.values()), max(final_losses.values())
        spread = (
            f" The final training losses of the {len(final_losses)} variants lie between {lo:.4f} and "
            f"{hi:.4f} (a spread of {100 * (hi - lo) / lo:.1f}%): same seed, same batches, and the fuser "
            "variants have barely moved away from the backbone they start from."
        )
    lines.append(
        "**What this does and does not show.** "
        "The intervals are wide (n = 16 per cell in Table 3, 40 pooled per cell in Table 1), so only large "
        "effects could be seen; a difference inside the intervals is not evidence either way. The "
        f"fine-tuning budget of the ablation ({steps or '?'} steps) is tiny next to the paper's, so a "
        "collapse like the paper's `direct_add` or a gain like its zero-conv one has had little room to "
        f"appear.{spread} Nothing here was tuned to agree with the paper: suites, seeds, settings and "
        "budget were fixed before the runs."
    )
    return lines


# -------------------------------------------------------------------------------------------------------------- main
def build_markdown(reports_dir: Path, regenerate: str) -> str:
    """The whole NANOBENCH.md text from the reports in `reports_dir`."""
    named: dict[str, dict[str, Any]] = {}
    t1_reports = {}
    for model in ("cogvideox", "mimir"):
        path = reports_dir / f"table1_{model}.json"
        if path.exists():
            t1_reports[model] = named[path.name] = load_report(path)
    ablations = {}
    for t in FUSION_ROWS:
        path = reports_dir / f"ablation_{t}.json"
        if path.exists():
            ablations[t] = named[path.name] = load_report(path)
    if not named:
        raise FileNotFoundError(f"no table1_*.json or ablation_*.json reports in {reports_dir}")
    logs = reports_dir / "train_logs"
    train_args = {
        t: json.loads((logs / f"args_{t}.json").read_text()) for t in ablations if (logs / f"args_{t}.json").exists()
    }
    losses = {t: read_losses(logs / f"losses_{t}.csv") for t in ablations if (logs / f"losses_{t}.csv").exists()}
    root = next((device_root(a) for a in train_args.values() if device_root(a)), "")
    rel_dir = reports_dir.resolve().relative_to(REPO) if reports_dir.resolve().is_relative_to(REPO) else reports_dir

    # the settings that every model report shares
    any_report = next(iter(named.values()))
    video = any_report["settings"].get("video", {})

    lines = [
        "# NanoBench results: the paper's Table 1 and Table 3 at nano scale",
        "",
        "Text faithfulness of CogVideoX-nano and Mimir-nano (Table 1 layout) and of every token-fuser variant "
        "(Table 3 layout), scored by the classical NanoBench scorer (`mimir/bench/`) on videos generated from the "
        "suites in `prompts/bench/`. A video passes a dimension when every check of its spec passes (shape, colour, "
        "count, presence, and the relation / motion / event / lighting the spec names). Cells are pass % with the "
        "95% Wilson interval. The scorer's validation against ground truth is in "
        "[SCORER_VALIDATION.md](SCORER_VALIDATION.md).",
        "",
        f"Regenerate this file (reads the JSON reports only, generates nothing): `{regenerate}`",
        "",
        "## How the numbers were produced",
        "",
        "Machine and versions, from the reports' `environment`:",
        "",
        *environment_lines(named),
        "",
        f"Video settings (every report): {video.get('num_frames')} frames of {video.get('height')}x"
        f"{video.get('width')}, {video.get('num_inference_steps')} sampling steps, guidance scale "
        f"{video.get('guidance_scale')}, {any_report['settings'].get('videos_per_prompt')} video per spec, seed = "
        "the spec's fixed seed (`mimir.bench.cli.video_seed`). Wall time per report: "
        + ", ".join(f"{n} {r.get('seconds', '?')} s" for n, r in named.items())
        + ".",
        "",
    ]
    if t1_reports:
        lines += ["Table 1 (the shipped nano weights, `assets/nano/`):", "", "```bash"]
        lines += [bench_command(r, f"{rel_dir}/table1_{m}.json", root) for m, r in t1_reports.items()]
        lines += ["```", ""]
    if ablations:
        lines += [
            "Table 3: each fusion type fine-tuned from the same CogVideoX-nano "
            "(`assets/nano/cogvideox/transformer`) with the same data pool, seed and budget, then benchmarked "
            "(paths are relative to the repository root of the training machine; the fusion type is read from "
            "the weights' `token_fuser/config.json`). Training arguments as recorded in "
            f"`{rel_dir}/train_logs/args_<fusion_type>.json`:",
            "",
            "```bash",
        ]
        lines += per_fusion_type({t: train_command(a, root) for t, a in train_args.items()})
        lines.append("")
        lines += per_fusion_type(
            {t: bench_command(r, f"{rel_dir}/ablation_{t}.json", root) for t, r in ablations.items()}
        )
        lines += ["```", ""]
        vae = {rel(a.get("vae"), root) for a in train_args.values()}
        if vae:
            lines += [
                f"The `--vae` folder ({', '.join(sorted(map(str, vae)))}) is the VAE training run "
                "recorded in `assets/nano/logs/vae_args.json`, shipped as `assets/nano/vae`.",
                "",
            ]

    # Table 1
    t1 = None
    if len(t1_reports) == 2:
        t1_lines, t1 = table1(t1_reports["cogvideox"], t1_reports["mimir"])
        n_specs = t1_reports["mimir"]["settings"].get("limit")
        lines += [
            "## Table 1 layout: CogVideoX-nano vs Mimir-nano",
            "",
            f"First {n_specs} specs of each suite, both wordings: *training wordings* are the caption templates the "
            "models were trained on (`prompts/bench/train/`), *held-out wordings* say the same scenes in phrasings "
            "never seen in training (`prompts/bench/heldout/`). *Pooled* is both splits together.",
            "",
            *t1_lines,
            "",
            "*paper*: no figure of the paper's Table 1 was available here (the stored copies of arXiv 2412.03085 "
            "that could be searched carry its abstract, not its tables), so none is printed. The paper's VBench "
            "dimensions map to the first four rows; count, motion, temporal order, appearance and lighting are the "
            "nano world's own.",
            "",
            "Quality figures (means over all videos; 1 is best; see SCORER_VALIDATION.md for their definitions):",
            "",
            *quality_lines({f"{m} (Table 1)": r for m, r in t1_reports.items()}),
            "",
        ]

    # Table 3
    sums3 = None
    steps = None
    if ablations:
        t3_lines, sums3 = table3(ablations, losses)
        steps = max((a.get("max_train_steps", 0) for a in train_args.values()), default=None)
        a0 = next(iter(train_args.values()), {})
        n_specs = next(iter(ablations.values()))["settings"].get("limit")
        lines += [
            "## Table 3 layout: token-fuser ablation",
            "",
            f"Every fusion type fine-tuned for {steps} steps (batch {a0.get('train_batch_size')}, learning rate "
            f"{a0.get('learning_rate')}, {a0.get('lr_warmup_steps')} warm-up steps, pool of {a0.get('pool_size')} "
            f"items, seed {a0.get('seed')}) from the same CogVideoX-nano; first {n_specs} specs of each suite, both "
            "wordings pooled. `t5_only` is the control: the same fine-tune without the LLM branch. *mean* is all "
            "videos of the row together (equal n per dimension, so it is the mean of the row). *final loss* is the "
            "training loss logged at the last step (one batch, so noisy).",
            "",
            *t3_lines,
            "",
            f"*paper*: figures from {PAPER_SOURCE}, written as before → after for the change that row introduces. "
            f"It also reports that {PAPER_STABILIZER[3]} ({PAPER_STABILIZER[1]}% → {PAPER_STABILIZER[2]}%); the quote "
            "does not say which row the 69.2% belongs to, so it is compared with both stabilizer pairs below rather "
            'than placed in a row. No other figure of the paper\'s Table 3 was available here; "—" means not '
            "available, not zero.",
            "",
        ]
        if losses:
            lines += ["Logged training losses (step: loss):", ""]
            lines += [
                f"- `{t}`: " + ", ".join(f"{s}: {v:.4f}" for s, v in losses[t]) for t in FUSION_ROWS if t in losses
            ]
            lines.append("")

    lines += ["## Agreement with the paper", ""]
    lines += agreement(t1, sums3, paired_changes(ablations), steps, {t: v[-1][1] for t, v in losses.items() if v})
    lines += [
        "",
        "Raw per-video verdicts (checks, quality, seed, prompt) are in the JSON reports beside this file "
        f"(`{rel_dir}/`).",
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(args: argparse.Namespace) -> None:
    regenerate = ".venv/bin/python benchmarks/nanobench_tables.py"
    if Path(args.reports).resolve() != (HERE / "nanobench").resolve():
        regenerate += f" --reports {shlex.quote(str(args.reports))}"
    text = build_markdown(Path(args.reports), regenerate)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", default=str(HERE / "nanobench"), help="folder of the JSON reports")
    parser.add_argument("--out", default=str(HERE / "NANOBENCH.md"), help="markdown file to write")
    main(parser.parse_args())
