"""Paired statistics (mimir.bench.paired) on constructed reports whose answer is known."""

import numpy as np
import pytest
from scipy.stats import binomtest

from mimir.bench.paired import ALL, POOLED, bootstrap_diff, compare, compare_reports, method, pair_reports


def video(i: int, passed: bool, dimension: str = "color", split: str = "heldout", seed: int = 0) -> dict:
    return {"id": f"{dimension}-{i:04d}", "dimension": dimension, "split": split, "seed": seed, "pass": passed}


def side(passes: list[bool], **kw) -> list[dict]:
    return [video(i, p, **kw) for i, p in enumerate(passes)]


def test_thirty_discordant_pairs_all_favouring_b():
    # 100 pairs: 50 pass on both sides, 30 pass on B only, 20 fail on both
    a = [True] * 50 + [False] * 50
    b = [True] * 80 + [False] * 20
    r = compare_reports(side(a), side(b))[("color", "heldout")]
    assert (r.n, r.b_only, r.a_only) == (100, 30, 0)
    assert r.rate_a == pytest.approx(50.0) and r.rate_b == pytest.approx(80.0)
    assert r.diff == pytest.approx(30.0)
    assert r.p_value == pytest.approx(binomtest(30, 30, 0.5).pvalue)
    assert r.p_value == pytest.approx(2 * 0.5**30)  # ~1.9e-9
    assert 0 < r.ci_low < 30 < r.ci_high < 50


def test_symmetric_discordance_gives_p_one():
    # 10 pairs favour B, 10 favour A, 80 agree: no evidence either way
    a = [True] * 10 + [False] * 10 + [True] * 40 + [False] * 40
    b = [False] * 10 + [True] * 10 + [True] * 40 + [False] * 40
    r = compare_reports(side(a), side(b))[("color", "heldout")]
    assert (r.b_only, r.a_only, r.diff) == (10, 10, 0.0)
    assert r.p_value == 1.0
    assert r.ci_low < 0 < r.ci_high


def test_no_discordant_pair():
    r = compare_reports(side([True, False] * 5), side([True, False] * 5))[("color", "heldout")]
    assert r.p_value == 1.0 and r.diff == 0.0 and (r.ci_low, r.ci_high) == (0.0, 0.0)


def test_cells_per_dimension_split_and_pooled():
    a = side([False] * 4, dimension="color", split="train") + side([False] * 6, dimension="motion", split="heldout")
    b = side([True] * 4, dimension="color", split="train") + side([False] * 6, dimension="motion", split="heldout")
    cells = compare_reports(a, b, n_resamples=500)
    assert cells[("color", "train")].diff == 100.0 and cells[("motion", "heldout")].diff == 0.0
    assert cells[(ALL, POOLED)].n == 10 and cells[(ALL, POOLED)].diff == pytest.approx(40.0)
    assert cells[(ALL, "train")].n == 4 and cells[("motion", POOLED)].n == 6
    assert ("color", "heldout") not in cells  # no such videos: no cell
    assert "McNemar" in method() and "10,000" in method()


def test_keys_must_match_and_be_unique():
    a = side([True] * 5)
    with pytest.raises(ValueError, match=r"5 in A, 4 in B, 4 in both"):
        pair_reports(a, a[:4])
    other_seed = [dict(v, seed=1) for v in a]
    with pytest.raises(ValueError, match=r"0 in both"):
        pair_reports(a, other_seed)
    with pytest.raises(ValueError, match=r"report B holds 1 repeated"):
        pair_reports(a, a + a[:1])
    # the same spec id in the two wording splits is two videos, not a repeat
    assert len(pair_reports(a + side([True] * 5, split="train"), a + side([False] * 5, split="train")).keys) == 10
    with pytest.raises(ValueError, match="different dimensions"):
        pair_reports(a, [dict(v, dimension="motion") for v in a])


def clustered(rng: np.random.Generator, n_specs: int, seeds: int, p_b_only: float, p_a_only: float):
    """Reports in which a spec decides the verdicts of all its seeds (the strongest within-spec correlation)."""
    kind = rng.choice(3, size=n_specs, p=[p_b_only, p_a_only, 1 - p_b_only - p_a_only])  # (S,)
    both = rng.random(n_specs) < 0.5  # concordant specs: both pass or both fail
    a = np.where(kind == 0, False, np.where(kind == 1, True, both))
    b = np.where(kind == 0, True, np.where(kind == 1, False, both))
    va = [video(i, bool(a[i]), seed=s) for i in range(n_specs) for s in range(seeds)]
    vb = [video(i, bool(b[i]), seed=s) for i in range(n_specs) for s in range(seeds)]
    return va, vb


def test_bootstrap_covers_the_true_difference_and_resamples_specs():
    # 300 replications of 100 specs x 2 seeds with a true difference of 15 points. Resampling specs covers it ~95% of
    # the time; counting the 2 seeds as 200 independent specs would give intervals ~1/sqrt(2) too narrow (~83%).
    rng = np.random.default_rng(123)
    hits_spec = hits_pair = 0
    trials = 300
    for t in range(trials):
        va, vb = clustered(rng, 100, 2, 0.20, 0.05)
        r = compare(pair_reports(va, vb), n_resamples=2000, seed=t)
        hits_spec += r.ci_low <= 15.0 <= r.ci_high
        # the same verdicts with every seed renamed into a spec of its own
        flat = (
            [dict(v, id=f"{v['id']}-{v['seed']}", seed=0) for v in va],
            [dict(v, id=f"{v['id']}-{v['seed']}", seed=0) for v in vb],
        )
        r = compare(pair_reports(*flat), n_resamples=2000, seed=t)
        hits_pair += r.ci_low <= 15.0 <= r.ci_high
    assert 0.91 <= hits_spec / trials <= 0.99
    assert hits_pair / trials < 0.89


def test_bootstrap_is_reproducible_with_its_seed():
    rng = np.random.default_rng(0)
    va, vb = clustered(rng, 60, 2, 0.2, 0.1)
    pairs = pair_reports(va, vb)
    first, again = compare(pairs, seed=7), compare(pairs, seed=7)
    assert (first.ci_low, first.ci_high) == (again.ci_low, again.ci_high)
    assert first.n_specs == 60 and first.n == 120
    # the replicates themselves: equal with one seed, not with another (the interval's ends sit on a lattice of
    # k/120, so two seeds may well give the same interval)
    d = pairs.b.astype(float) - pairs.a.astype(float)
    specs, strata = np.array([k[0] for k in pairs.keys]), np.zeros(len(d))
    np.testing.assert_array_equal(bootstrap_diff(d, specs, strata, 1000, 7), bootstrap_diff(d, specs, strata, 1000, 7))
    assert not np.array_equal(bootstrap_diff(d, specs, strata, 1000, 7), bootstrap_diff(d, specs, strata, 1000, 8))
