"""Paired comparison of two NanoBench reports: the same videos (spec, wording split, seed) judged for two models.

Two models that saw the same spec in the same wording with the same seed start from the same noise, so their
verdicts are paired; a paired test sees differences that two independent pass rates with Wilson intervals cannot.
For each dimension and split (and pooled over dimensions) `compare_reports` gives:

- n pairs, the pass rate of each side and the difference B - A in points;
- the exact McNemar test: a two-sided binomial test of the discordant pairs, B-only passes among all pairs on which
  the two verdicts differ, against 1/2 (`scipy.stats.binomtest`); p = 1 when no pair is discordant;
- the 95% interval of B - A by a seeded bootstrap that resamples whole specs (every seed of a spec together, our
  choice: two seeds of one spec share its wording and scene, so they are not independent and resampling single
  pairs would make the interval too narrow), within each dimension x split cell, so a pooled row keeps the design's
  cell sizes. With one video per spec this is the ordinary paired bootstrap of pairs.

`METHOD` says the same in one paragraph, for the tables that print these numbers.
"""

from collections import Counter
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np
from scipy.stats import binomtest

from mimir.world.vocab import DIMENSIONS


SPLITS: tuple[str, ...] = ("train", "heldout")
POOLED = "pooled"  # split name of rows over both wordings
ALL = "all"  # dimension name of rows over every dimension
N_RESAMPLES = 10_000
BOOTSTRAP_SEED = 0

METHOD = (
    "Pairs are videos with the same spec id, wording split and seed (so the same starting noise); a key that is "
    "missing on one side or repeats is an error. p: exact McNemar test, i.e. the two-sided binomial test of the "
    "discordant pairs (B passes, A fails vs A passes, B fails) against 1/2 (`scipy.stats.binomtest`), p = 1 when no "
    "pair is discordant. 95% CI of B - A: percentile bootstrap, {n_resamples:,} resamples (numpy seed {seed}), "
    "resampling whole specs (all their seeds together) within each dimension x split cell; pooled rows add the "
    "cells. The McNemar test counts every pair as independent, which seeds of one spec are not, so for effects "
    "near the threshold the bootstrap interval is the more cautious of the two."
)


PairKey = tuple[str, str, int]  # (spec id, wording split, seed)


def pair_key(video: dict[str, Any]) -> PairKey:
    """The key on which two reports' videos pair up."""
    return str(video["id"]), str(video["split"]), int(video["seed"])


@dataclass(frozen=True)
class Pairs:
    """Verdicts of two reports on the same videos, in a fixed order (sorted keys). Arrays are (N,)."""

    keys: list[PairKey]
    dimension: np.ndarray  # (N,) str
    split: np.ndarray  # (N,) str
    a: np.ndarray  # (N,) bool: side A passes
    b: np.ndarray  # (N,) bool: side B passes

    def select(self, dimension: str = ALL, split: str = POOLED) -> np.ndarray:
        """(N,) bool mask of one dimension (ALL: every one) and one split (POOLED: both)."""
        mask = np.ones(len(self.keys), dtype=bool)
        if dimension != ALL:
            mask &= self.dimension == dimension
        if split != POOLED:
            mask &= self.split == split
        return mask


def _index(videos: Iterable[dict[str, Any]], side: str) -> dict[PairKey, dict[str, Any]]:
    videos = list(videos)
    index: dict[PairKey, dict[str, Any]] = {}
    counts = Counter(pair_key(v) for v in videos)
    repeated = {k: c for k, c in counts.items() if c > 1}
    if repeated:
        example = next(iter(repeated))
        raise ValueError(
            f"report {side} holds {len(repeated)} repeated (id, split, seed) keys among {sum(counts.values())} "
            f"videos, e.g. {example} x{repeated[example]}: every video must be unique to be paired"
        )
    for v in videos:
        index[pair_key(v)] = v
    return index


def pair_reports(videos_a: list[dict[str, Any]], videos_b: list[dict[str, Any]]) -> Pairs:
    """Pair two reports' `videos` on identical (spec id, split, seed).

    Raises ValueError naming the counts when a key repeats within a side, when the two sides do not hold exactly
    the same keys, or when one key names different dimensions on the two sides.
    """
    index_a, index_b = _index(videos_a, "A"), _index(videos_b, "B")
    only_a, only_b = index_a.keys() - index_b.keys(), index_b.keys() - index_a.keys()
    if only_a or only_b:
        both = len(index_a) - len(only_a)
        example = sorted(only_a or only_b)[0]
        raise ValueError(
            f"the reports do not hold the same videos: {len(index_a)} in A, {len(index_b)} in B, {both} in both "
            f"({len(only_a)} only in A, {len(only_b)} only in B, e.g. {example}); run both with the same suites, "
            "--videos-per-prompt and --seed"
        )
    keys = sorted(index_a)
    clash = [k for k in keys if index_a[k]["dimension"] != index_b[k]["dimension"]]
    if clash:
        k = clash[0]
        raise ValueError(
            f"{len(clash)} keys name different dimensions in A and B, e.g. {k}: "
            f"{index_a[k]['dimension']!r} vs {index_b[k]['dimension']!r}"
        )
    return Pairs(
        keys=keys,
        dimension=np.array([index_a[k]["dimension"] for k in keys]),
        split=np.array([k[1] for k in keys]),
        a=np.array([bool(index_a[k]["pass"]) for k in keys]),
        b=np.array([bool(index_b[k]["pass"]) for k in keys]),
    )


@dataclass(frozen=True)
class PairedResult:
    """One cell of a paired comparison. Rates and differences in points (0-100)."""

    dimension: str
    split: str
    n: int  # pairs
    n_specs: int  # distinct (spec id, split): the bootstrap's resampling units
    rate_a: float
    rate_b: float
    diff: float  # rate_b - rate_a
    ci_low: float  # 95% bootstrap interval of diff
    ci_high: float
    b_only: int  # discordant pairs that favour B (B passes, A fails)
    a_only: int  # discordant pairs that favour A
    p_value: float  # exact McNemar, two-sided

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def mcnemar_exact(b_only: int, a_only: int) -> float:
    """Two-sided exact McNemar p-value: binomial test of b_only successes in b_only + a_only trials at 1/2."""
    discordant = b_only + a_only
    return 1.0 if discordant == 0 else float(binomtest(b_only, discordant, 0.5).pvalue)


def bootstrap_diff(
    d: np.ndarray,
    clusters: np.ndarray,
    strata: np.ndarray,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> np.ndarray:
    """Bootstrap replicates of mean(d), resampling clusters with replacement within each stratum.

    d: (N,) per-pair difference b - a in {-1, 0, 1}; clusters, strata: (N,) labels. Returns (n_resamples,) means.
    Vectorised per stratum: a (n_resamples, K) index draw over that stratum's K clusters, never the whole (R, N).
    """
    rng = np.random.default_rng(seed)
    total = np.zeros(n_resamples)  # (R,) resampled sum of d
    count = np.zeros(n_resamples)  # (R,) resampled number of pairs
    for stratum in sorted(set(strata.tolist())):
        in_s = strata == stratum
        labels, inverse = np.unique(clusters[in_s], return_inverse=True)
        sums = np.bincount(inverse, weights=d[in_s], minlength=len(labels))  # (K,) sum of d per cluster
        sizes = np.bincount(inverse, minlength=len(labels)).astype(float)  # (K,) pairs per cluster
        draw = rng.integers(0, len(labels), size=(n_resamples, len(labels)))  # (R, K)
        total += sums[draw].sum(axis=1)
        count += sizes[draw].sum(axis=1)
    return total / count


def compare(
    pairs: Pairs,
    dimension: str = ALL,
    split: str = POOLED,
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> PairedResult:
    """Paired comparison B vs A on one cell: `dimension` (or ALL) x `split` (or POOLED)."""
    mask = pairs.select(dimension, split)
    n = int(mask.sum())
    if n == 0:
        raise ValueError(f"no pairs for dimension={dimension!r}, split={split!r}")
    a, b = pairs.a[mask], pairs.b[mask]  # (n,)
    d = b.astype(float) - a.astype(float)  # (n,) in {-1, 0, 1}
    # a spec is one resampling unit within its wording split; the same spec in the other wording is another scene
    # description, judged in another cell
    specs = np.array([f"{k[0]}\x00{k[1]}" for k, m in zip(pairs.keys, mask) if m])
    strata = np.char.add(np.char.add(pairs.dimension[mask].astype(str), "\x00"), pairs.split[mask].astype(str))
    reps = bootstrap_diff(d, specs, strata, n_resamples, seed)  # (R,)
    lo, hi = np.quantile(reps, [0.025, 0.975])
    b_only, a_only = int((b & ~a).sum()), int((a & ~b).sum())
    return PairedResult(
        dimension=dimension,
        split=split,
        n=n,
        n_specs=len(set(specs.tolist())),
        rate_a=100 * float(a.mean()),
        rate_b=100 * float(b.mean()),
        diff=100 * float(d.mean()),
        ci_low=100 * float(lo),
        ci_high=100 * float(hi),
        b_only=b_only,
        a_only=a_only,
        p_value=mcnemar_exact(b_only, a_only),
    )


def compare_reports(
    videos_a: list[dict[str, Any]],
    videos_b: list[dict[str, Any]],
    n_resamples: int = N_RESAMPLES,
    seed: int = BOOTSTRAP_SEED,
) -> dict[tuple[str, str], PairedResult]:
    """Every cell of a paired comparison of two reports' `videos` (B vs A).

    Returns {(dimension, split): PairedResult} for each dimension present (vocab order) and ALL, and for each
    split present and POOLED. Raises ValueError as `pair_reports` does.
    """
    pairs = pair_reports(videos_a, videos_b)
    dims = [d for d in DIMENSIONS if d in set(pairs.dimension.tolist())] + [ALL]
    splits = [s for s in SPLITS if s in set(pairs.split.tolist())] + [POOLED]
    return {
        (dim, split): compare(pairs, dim, split, n_resamples, seed)
        for dim in dims
        for split in splits
        if pairs.select(dim, split).any()
    }


def method(n_resamples: int = N_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> str:
    """`METHOD` with the bootstrap's settings filled in."""
    return METHOD.format(n_resamples=n_resamples, seed=seed)
