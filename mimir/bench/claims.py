"""Rules that turn a paired comparison (`mimir.bench.paired`) into a verdict, declared before any result is read.

A claim ("Zero-Conv gives the largest single gain") rests on paired tests of model B against model A on one cell;
each test has a kind (`RULES`: higher, collapse, equivalent, non-inferior) judged by `judge` at the strict level
`ALPHA`, and a claim's verdict combines its tests' (`CLAIM_RULE`, `claim_verdict`). A target is one cell whose
difference must reach a size, or stay inside a margin (`Target`). The claims and targets themselves, and the tables
that print them, are benchmarks/nanobench_tables.py's.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from mimir.bench.paired import POOLED, PairedResult


# (b, a, dimension, split) -> the paired result of B against A on that cell; None when a report is missing
Cell = Callable[[str, str, str, str], PairedResult | None]

ALPHA = 0.01  # significance level of every McNemar test below
# points: the equivalence and non-inferiority margin (our choice): the smallest gain the issue counts as real (+5
# points on held-out wordings), so a difference inside it is one we would not call a gain either
MARGIN = 5.0
COLLAPSE = 0.5  # a collapse: the pass rate falls by at least this share of the control's
MIN_N = 240  # pairs per cell below which "inconclusive" is not an allowed outcome (the rule)

Kind = Literal["higher", "collapse", "equivalent", "noninferior"]
RULES: dict[str, tuple[str, str, str]] = {  # kind: (confirmed when, refuted when, inconclusive otherwise)
    "higher": (
        f"McNemar p < {ALPHA} with B above A, and the 95% CI of B − A above 0",
        f"McNemar p < {ALPHA} with B below A, and the 95% CI below 0",
        "any other outcome",
    ),
    "collapse": (
        f"McNemar p < {ALPHA} with B below A, and the 95% CI of B − A wholly at or below −{COLLAPSE:g} × A's pass "
        "rate (B loses at least half of what A passes)",
        f"McNemar p < {ALPHA} with B above A, or the 95% CI wholly above −{COLLAPSE:g} × A's pass rate (a collapse "
        "is excluded)",
        "any other outcome",
    ),
    "equivalent": (
        f"the 95% CI of B − A wholly inside ±{MARGIN:g} points",
        f"the 95% CI wholly outside ±{MARGIN:g} points (the margin is excluded)",
        "the CI straddles a margin",
    ),
    "noninferior": (
        f"the 95% CI of B − A wholly above −{MARGIN:g} points",
        f"the 95% CI wholly below −{MARGIN:g} points (the margin is excluded)",
        f"the CI contains −{MARGIN:g}",
    ),
}


@dataclass(frozen=True)
class ClaimTest:
    """One paired test of a claim: model b against model a on one dimension, both wordings pooled."""

    b: str
    a: str
    dimension: str
    kind: Kind


@dataclass(frozen=True)
class Claim:
    key: str
    text: str
    tests: tuple[ClaimTest, ...]


CLAIM_RULE = (
    "A claim is **confirmed** when every one of its tests is confirmed, **refuted** when any test is refuted, and "
    f"**inconclusive** otherwise; inconclusive is an allowed outcome only when every cell it rests on holds at least "
    f"{MIN_N} pairs, and is marked *underpowered* when one holds fewer. Every test is on both wordings pooled. No "
    f"correction for the number of tests beyond the strict α = {ALPHA}."
)


def judge(kind: Kind, r: PairedResult) -> Literal["confirmed", "refuted", "inconclusive"]:
    """The verdict of one paired test (B = r's side b, A = side a) under the rules of `RULES`."""
    significant = r.p_value < ALPHA
    if kind == "higher":
        if significant and r.diff > 0 and r.ci_low > 0:
            return "confirmed"
        if significant and r.diff < 0 and r.ci_high < 0:
            return "refuted"
    elif kind == "collapse":
        threshold = -COLLAPSE * r.rate_a
        if significant and r.diff < 0 and r.ci_high <= threshold:
            return "confirmed"
        if (significant and r.diff > 0) or r.ci_low > threshold:
            return "refuted"
    elif kind == "equivalent":
        if -MARGIN <= r.ci_low and r.ci_high <= MARGIN:
            return "confirmed"
        if r.ci_low > MARGIN or r.ci_high < -MARGIN:
            return "refuted"
    elif kind == "noninferior":
        if r.ci_low > -MARGIN:
            return "confirmed"
        if r.ci_high < -MARGIN:
            return "refuted"
    else:
        raise ValueError(f"unknown test kind {kind!r}")
    return "inconclusive"


def claim_verdict(verdicts: list[str], ns: list[int]) -> str:
    """Combine a claim's test verdicts (CLAIM_RULE)."""
    if "refuted" in verdicts:
        return "refuted"
    if all(v == "confirmed" for v in verdicts):
        return "confirmed"
    return "inconclusive" if min(ns) >= MIN_N else f"inconclusive (underpowered: n = {min(ns)} < {MIN_N})"


@dataclass(frozen=True)
class Target:
    """One of the issue's targets: a comparison (b vs a) on one cell, met when `rule` holds."""

    key: str
    text: str
    b: str
    a: str
    dimension: str
    split: str
    min_diff: float | None  # the point estimate must reach this (points), with McNemar p < ALPHA
    within: float | None  # or: the 95% CI must lie inside ±within

    def rule(self) -> str:
        if self.within is not None:
            return f"95% CI of the difference inside ±{self.within:g} points"
        return f"difference ≥ +{self.min_diff:g} points and McNemar p < {ALPHA}"

    def met(self, r: PairedResult) -> bool:
        if self.within is not None:
            return -self.within <= r.ci_low and r.ci_high <= self.within
        return r.diff >= self.min_diff and r.p_value < ALPHA


@dataclass
class ClaimResult:
    claim: Claim
    results: list[tuple[ClaimTest, PairedResult | None, str]]  # (test, its cell or None if missing, verdict)
    verdict: str


def evaluate_claims(claims: tuple[Claim, ...], cell: Cell) -> list[ClaimResult]:
    """Every claim judged by its tests, each on both wordings pooled; a claim whose reports are missing is 'not
    available'."""
    out = []
    for claim in claims:
        results = []
        for test in claim.tests:
            r = cell(test.b, test.a, test.dimension, POOLED)
            results.append((test, r, "not available" if r is None else judge(test.kind, r)))
        if any(r is None for _, r, _ in results):
            verdict = "not available (reports missing)"
        else:
            verdict = claim_verdict([v for _, _, v in results], [r.n for _, r, _ in results])
        out.append(ClaimResult(claim, results, verdict))
    return out


def evaluate_targets(targets: tuple[Target, ...], cell: Cell) -> list[tuple[Target, PairedResult | None, str]]:
    """(target, its cell or None, "met" / "not met" / "not available") for each target."""
    out = []
    for t in targets:
        r = cell(t.b, t.a, t.dimension, t.split)
        out.append((t, r, "not available" if r is None else ("met" if t.met(r) else "not met")))
    return out
