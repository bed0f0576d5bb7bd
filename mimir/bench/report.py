"""NanoBench reports: aggregation of per-video results, Wilson intervals, a text table, the run's environment, and
reading / writing a report (JSON, gzip when the name ends in `.gz`).

`aggregate` and `format_table` are shared by the CLI and by the generators of the published tables
(benchmarks/NANOBENCH.md, benchmarks/SCORER_VALIDATION.md).
"""

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import binomtest

from mimir.bench.environment import environment  # noqa: F401  (reports store it; importers of old keep working)
from mimir.world.v2.vocab import CATEGORIES
from mimir.world.vocab import DIMENSIONS


QUALITY_KEYS = ("background_consistency", "temporal_flicker", "imaging_quality")


def wilson_interval(k: int, n: int, confidence_level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a pass rate k / n (`scipy.stats.binomtest(k, n).proportion_ci`); (0, 1) when n = 0,
    where scipy refuses. Bounds lie in [0, 1]."""
    if n == 0:
        return 0.0, 1.0
    ci = binomtest(k, n).proportion_ci(confidence_level=confidence_level, method="wilson")
    return float(ci.low), float(ci.high)


def aggregate(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-dimension summary of `score_video` results (each may carry extra keys, e.g. "split").

    Returns {dimension: {"n", "passed", "pass_rate", "ci_low", "ci_high", "checks": {name: rate},
    "quality": {name: mean}}}, dimensions in vocab order, only those present.
    """
    out: dict[str, dict[str, Any]] = {}
    for dim in DIMENSIONS + CATEGORIES:  # v1 dimensions, then world v2's (NanoBench-Comp)
        rows = [r for r in results if r["dimension"] == dim]
        if not rows:
            continue
        k = sum(bool(r["pass"]) for r in rows)
        lo, hi = wilson_interval(k, len(rows))
        names = sorted({c for r in rows for c in r["checks"]})
        out[dim] = {
            "n": len(rows),
            "passed": k,
            "pass_rate": k / len(rows),
            "ci_low": lo,
            "ci_high": hi,
            "checks": {c: float(np.mean([r["checks"][c] for r in rows if c in r["checks"]])) for c in names},
            "quality": {q: float(np.mean([r["quality"][q] for r in rows])) for q in QUALITY_KEYS},
        }
    return out


def format_table(summary: dict[str, dict[str, Any]], title: str = "", markdown: bool = False) -> str:
    """A table of `aggregate` output: one row per dimension; pass rate with its 95% Wilson interval, n, the
    rates of the shape / colour / count / presence checks, and the quality means."""
    header = ["dimension", "pass %", "95% CI", "n", "class", "color", "count", "objects"]
    header += ["bg cons", "flicker", "img q"]
    rows = []
    for dim, s in summary.items():

        def pct(name: str, c: dict = s["checks"]) -> str:
            return f"{100 * c[name]:.1f}" if name in c else "-"

        rows.append([
            dim,
            f"{100 * s['pass_rate']:.1f}",
            f"[{100 * s['ci_low']:.1f}, {100 * s['ci_high']:.1f}]",
            str(s["n"]),
            pct("object_class"),
            pct("color"),
            pct("count"),
            pct("multiple_objects"),
            *(f"{s['quality'][q]:.3f}" for q in QUALITY_KEYS),
        ])  # fmt: skip
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
    else:
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
        lines = [fmt.format(*header), fmt.format(*("-" * w for w in widths))] + [fmt.format(*r) for r in rows]
    return (f"{title}\n" if title else "") + "\n".join(lines)


def write_report(report: dict[str, Any], path: str | Path) -> None:
    """Write a report as JSON; gzip-compressed when `path` ends in `.gz` (a full run holds thousands of videos)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(report, indent=None if path.suffix == ".gz" else 1)
    if path.suffix == ".gz":
        # mtime=0: the same report gives the same bytes
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(text.encode("utf-8"))
    else:
        path.write_text(text)


def load_report(path: str | Path) -> dict[str, Any]:
    """A report written by `write_report` (`.json` or `.json.gz`); ValueError naming the file if it is not one."""
    path = Path(path)
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    report = json.loads(raw)
    missing = [k for k in ("settings", "environment", "videos") if k not in report]
    if missing:
        raise ValueError(f"{path}: not a NanoBench report (missing {missing})")
    return report
