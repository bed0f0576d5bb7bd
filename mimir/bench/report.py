"""NanoBench reports: aggregation of per-video results, Wilson intervals, a text table, the run's environment.

`aggregate` and `format_table` are shared by the CLI and by the generators of the published tables
(benchmarks/NANOBENCH.md, benchmarks/SCORER_VALIDATION.md).
"""

import importlib.metadata
import math
import os
import platform
from typing import Any

import numpy as np

from mimir.world.vocab import DIMENSIONS


QUALITY_KEYS = ("background_consistency", "temporal_flicker", "imaging_quality")


def wilson_interval(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval of a pass rate k / n (95% for z = 1.96); (0, 1) when n = 0. Bounds lie in [0, 1]."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def aggregate(results: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per-dimension summary of `score_video` results (each may carry extra keys, e.g. "split").

    Returns {dimension: {"n", "passed", "pass_rate", "ci_low", "ci_high", "checks": {name: rate},
    "quality": {name: mean}}}, dimensions in vocab order, only those present.
    """
    out: dict[str, dict[str, Any]] = {}
    for dim in DIMENSIONS:
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


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Machine and package versions for a report (no heavy imports beyond torch, which is already loaded)."""
    env: dict[str, Any] = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "packages": {p: _version(p) for p in ("torch", "diffusers", "transformers", "numpy", "scipy", "scikit-image")},
    }
    try:
        import torch

        env["cuda"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
    except ImportError:
        env["cuda"] = None
    return env
