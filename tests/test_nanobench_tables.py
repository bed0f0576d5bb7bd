"""benchmarks/nanobench_tables.py on small synthetic reports in the `python -m mimir bench` format, built so that each
verdict of the decision rules is known in advance (fast)."""

import importlib.util

import pytest

from mimir.bench import claims
from mimir.bench.paired import ALL, PairedResult
from mimir.bench.report import environment, write_report

from .scripts import load_benchmark


tables = load_benchmark("nanobench_tables")

N_SPECS, SEEDS = 20, 2  # per dimension and split: 40 pairs per cell, 80 pooled (under the 240 the issue asks for)
CONTROL_RATES = {d: 0.6 for d in tables.DIMENSIONS} | {"object_class": 0.9}


def videos(rates: dict[str, float], heldout: dict[str, float] | None = None) -> list[dict]:
    """Videos of one model: spec i of a dimension passes at every seed iff i < rate * N_SPECS. Every model passes a
    prefix of the specs, so the discordant pairs of two models all favour the one with the higher rate."""
    out = []
    for split in ("train", "heldout"):
        r = heldout if split == "heldout" and heldout is not None else rates
        for d in tables.DIMENSIONS:
            for i in range(N_SPECS):
                for k in range(SEEDS):
                    out.append({
                        "id": f"{d}-{i:04d}-s{i}", "dimension": d, "split": split, "seed": 1000 * i + k,
                        "prompt": "a red circle", "pass": i < round(r[d] * N_SPECS),
                        "checks": {d: i < round(r[d] * N_SPECS)},
                        "quality": {"background_consistency": 0.99, "temporal_flicker": 0.98, "imaging_quality": 0.8},
                        "suite": f"prompts/bench/{split}/{d}.jsonl",
                    })  # fmt: skip
    return out


def report(variant: str, vids: list[dict]) -> dict:
    suites = [f"prompts/bench/{s}/{d}.jsonl" for s in ("train", "heldout") for d in sorted(tables.DIMENSIONS)]
    fusion = "mimir" if variant == "mimir_llm_off" else variant
    return {
        "settings": {
            "suite": suites, "model": "mimir", "ground_truth": False, "fusion_type": fusion,
            "weights": f"/dev/repo/runs/ft_{fusion}", "llm_branch": "off" if variant == "mimir_llm_off" else "on",
            "videos_per_prompt": SEEDS, "limit": None, "num_inference_steps": None, "guidance_scale": None,
            "seed": 0, "batch_size": 16, "workers": 8, "details": False, "out": "/x/out.json.gz", "source": "mimir",
            "video": {"num_frames": 9, "height": 64, "width": 64, "num_inference_steps": 20, "guidance_scale": 4.0},
            "trained_weights": True,
        },
        "environment": environment(),
        "seconds": 12.5,
        "suites": {},
        "videos": vids,
    }  # fmt: skip


def with_rates(base: dict[str, float], **changes: float) -> dict[str, float]:
    return base | changes


def write_world(tmp_path, models: dict[str, list[dict]], losses: bool = True):
    for variant, vids in models.items():
        write_report(report(variant, vids), tmp_path / f"ft_{variant}.json.gz")
    if losses:
        logs = tmp_path / "train_logs"
        logs.mkdir(exist_ok=True)
        for t in tables.FUSION_TYPES:
            rows = [f"{s},{9 / s:.6f},{10 / s:.6f},1e-4,{s}" for s in range(100, 900, 100)]
            (logs / f"losses_{t}.csv").write_text("step,loss,loss_mean,lr,seconds\n" + "\n".join(rows) + "\n")
            (logs / f"args_{t}.json").write_text(
                f'{{"stage": "dit", "output_dir": "/dev/repo/runs/ft_{t}", "fusion_type": "{t}", "seed": 1}}'
            )
    return tmp_path


def paper_world() -> dict[str, list[dict]]:
    """A world built to agree with the paper except for the stabilizer, and to meet every target but one."""
    zeroconv = {d: 0.9 for d in tables.DIMENSIONS}
    return {
        "t5_only": videos(CONTROL_RATES),
        "direct_add": videos({d: 0.0 for d in tables.DIMENSIONS}),  # collapses everywhere
        "norm": videos(CONTROL_RATES),  # the control's verdicts exactly
        "norm_ss": videos(CONTROL_RATES),  # no lift: inconclusive
        "zeroconv": videos(zeroconv),
        "zeroconv_ss": videos(with_rates(zeroconv, spatial_relationship=0.0)),  # the stabilizer hurts: refutes
        "mimir": videos(zeroconv),  # +30 points on 8 dimensions, on both wordings
        "mimir_llm_off": videos(CONTROL_RATES),  # without its LLM branch Mimir falls back to the control
    }


def test_claims_and_targets_follow_the_declared_rules(tmp_path):
    write_world(tmp_path, paper_world())
    comparisons = tables.Comparisons(tables.load_variants(tmp_path), n_resamples=2000)
    claims = {c.claim.key: c for c in tables.evaluate_claims(comparisons)}
    assert claims["collapse"].verdict == "confirmed"  # 90 -> 0 on object class
    assert claims["norm"].verdict == "confirmed"  # identical verdicts: CI [0, 0] inside ±5
    assert claims["zeroconv"].verdict == "confirmed"
    assert claims["stabilizer"].verdict == "refuted"  # zeroconv_ss loses spatial relationship
    tests = {(t.b, t.a): v for t, _, v in claims["stabilizer"].results}
    assert tests[("norm_ss", "norm")] == "inconclusive" and tests[("zeroconv_ss", "zeroconv")] == "refuted"
    assert claims["noninferior"].verdict == "confirmed"
    collapse = claims["collapse"].results[0][1]
    assert (collapse.rate_a, collapse.rate_b, collapse.diff, collapse.n) == (90.0, 0.0, -90.0, 80)

    targets = {t.key: (r, status) for t, r, status in tables.evaluate_targets(comparisons)}
    assert {k: s for k, (_, s) in targets.items()} == {
        "heldout": "met", "motion": "met", "temporal": "met", "train": "not met", "reliance": "met",
    }  # fmt: skip
    motion = targets["motion"][0]
    assert motion.diff == pytest.approx(30.0) and (motion.b_only, motion.a_only, motion.n) == (12, 0, 40)
    assert targets["heldout"][0].diff == pytest.approx(8 * 30 / 9)  # object class is 90 on both sides


def test_a_model_equal_to_the_control_confirms_nothing(tmp_path):
    same = {v: videos(CONTROL_RATES) for v in tables.VARIANTS}
    write_world(tmp_path, same, losses=False)
    comparisons = tables.Comparisons(tables.load_variants(tmp_path), n_resamples=2000)
    claims = {c.claim.key: c.verdict for c in tables.evaluate_claims(comparisons)}
    assert claims["collapse"] == "refuted"  # CI [0, 0]: a collapse is excluded
    assert claims["norm"] == "confirmed" and claims["noninferior"] == "confirmed"
    # no difference and only 80 pairs per cell: inconclusive, and flagged as below the n
    assert claims["zeroconv"] == "inconclusive (underpowered: n = 80 < 240)"
    assert claims["stabilizer"] == "inconclusive (underpowered: n = 80 < 240)"
    targets = {t.key: s for t, _, s in tables.evaluate_targets(comparisons)}
    assert targets == {"heldout": "not met", "motion": "not met", "temporal": "not met", "train": "met",
                       "reliance": "not met"}  # fmt: skip


def cell(diff, ci_low, ci_high, p, rate_a=80.0) -> PairedResult:
    return PairedResult("color", "pooled", 480, 240, rate_a, rate_a + diff, diff, ci_low, ci_high, 0, 0, p)


def test_judge_at_the_edges_of_each_rule():
    judge = claims.judge
    assert judge("higher", cell(+6, +1, +11, 0.001)) == "confirmed"
    assert judge("higher", cell(+6, +1, +11, 0.02)) == "inconclusive"  # p above 0.01
    assert judge("higher", cell(+6, -1, +13, 0.005)) == "inconclusive"  # the specs' bootstrap does not exclude 0
    assert judge("higher", cell(-6, -11, -1, 0.001)) == "refuted"
    # collapse: the control passes 80%, so the CI must lie at or below -40
    assert judge("collapse", cell(-70, -78, -41, 1e-9)) == "confirmed"
    assert judge("collapse", cell(-50, -62, -38, 1e-9)) == "inconclusive"  # a big drop, not shown to be a collapse
    assert judge("collapse", cell(-10, -20, -1, 1e-3)) == "refuted"  # a drop, but a collapse is excluded
    assert judge("equivalent", cell(1, -4.9, 4.9, 0.5)) == "confirmed"
    assert judge("equivalent", cell(3, -2, 8, 0.2)) == "inconclusive"
    assert judge("equivalent", cell(9, 5.1, 13, 1e-4)) == "refuted"
    assert judge("noninferior", cell(-1, -4.9, 3, 0.5)) == "confirmed"
    assert judge("noninferior", cell(-4, -9, 1, 0.1)) == "inconclusive"
    assert judge("noninferior", cell(-9, -13, -5.1, 1e-4)) == "refuted"
    assert claims.claim_verdict(["confirmed", "inconclusive"], [480, 480]) == "inconclusive"
    assert claims.claim_verdict(["confirmed", "inconclusive"], [480, 80]).startswith("inconclusive (underpowered")
    assert claims.claim_verdict(["confirmed", "refuted"], [80, 80]) == "refuted"


def test_markdown_prints_rules_first_paper_figures_and_provenance(tmp_path):
    write_world(tmp_path, paper_world())
    text = tables.build_markdown(tmp_path, "REGEN", n_resamples=2000)
    # the rules come before any result
    assert (
        text.index("## Method and decision rules")
        < text.index("## Table 1 layout")
        < text.index("## The paper's five ablation claims")
    )
    assert "McNemar" in text and "resampling whole specs" in text and "REGEN" in text
    # provenance: environment, coverage against the design, commands rebuilt from the settings
    assert environment()["python"] in text
    assert "**Below the issue's design**" in text
    assert "for T in t5_only direct_add norm norm_ss zeroconv zeroconv_ss mimir; do" in text
    assert "--weights runs/ft_$T" in text and "--out " in text and "ft_$T.json.gz" in text
    assert "--llm-branch off" in text and "--batch-size 16 --workers 8" in text
    assert "python -m mimir train dit --output-dir runs/ft_$T" in text

    rows = [line for line in text.splitlines() if line.startswith("| ")]
    # Table 1, held-out wordings: motion 60 -> 90 over 40 pairs, 12 discordant for Mimir: p = 2 * 0.5**12
    motion = next(r for r in rows if r.startswith("| motion | 40 |"))
    assert "| 60.0 | 90.0 | +30.0 [" in motion and "| 4.9e-04 |" in motion
    assert "temporal style | 25.86 | 26.22" in motion  # the paper's figures beside, with their VBench column
    obj = next(r for r in rows if r.startswith("| object class | 80 |"))
    assert "object class | 87.82 | 92.87" in obj
    # Table 3 with the paper's full table beside and the losses: the last interval mean (10/800, not the step's own
    # 9/800) and the mean of the rows in the last quarter of the steps (700 and 800)
    direct = next(r for r in rows if r.startswith("| `direct_add` |") and "direct addition" in r)
    assert "| 0.0 | -63.3 [" in direct and "| 4.97 | 0.00 | 2.36 | + decoder-only, direct addition |" in direct
    assert f"| {10 / 800:.4f} (800) | {(10 / 700 + 10 / 800) / 2:.4f} |" in direct
    assert any(r.startswith("| `norm_ss` |") and r.endswith("| — | — | — | no row in the paper |") for r in rows)
    # the claims and the targets, stated plainly
    assert "**Direct addition collapses (object class).** — **confirmed**" in text
    assert "**The Semantic Stabilizer lifts spatial relationships.** — **refuted**" in text
    assert "Met: heldout, motion, temporal, reliance. Not met: train." in text
    if importlib.util.find_spec("matplotlib"):
        assert (tmp_path / "loss_curves.png").exists() and "loss_curves.png" in text
    else:
        assert "matplotlib is not installed" in text


def test_reports_must_pair_and_match_their_names(tmp_path):
    world = paper_world()
    world["mimir"] = world["mimir"][:-1]  # one video short
    write_world(tmp_path, world, losses=False)
    with pytest.raises(ValueError, match=r"ft_mimir vs ft_t5_only: .*720 in A, 719 in B"):
        tables.build_markdown(tmp_path, "REGEN", n_resamples=100)

    bad = report("mimir_llm_off", videos(CONTROL_RATES))
    bad["settings"]["llm_branch"] = "on"
    write_report(bad, tmp_path / "ft_mimir_llm_off.json.gz")
    with pytest.raises(ValueError, match="llm_branch='on', the file name says 'off'"):
        tables.load_variants(tmp_path)


def test_missing_reports_are_named_not_guessed(tmp_path):
    write_world(tmp_path, {"t5_only": videos(CONTROL_RATES), "mimir": videos(CONTROL_RATES)}, losses=False)
    text = tables.build_markdown(tmp_path, "REGEN", n_resamples=200)
    assert "Not available: needs `ft_mimir.json.gz` and `ft_mimir_llm_off.json.gz`." in text
    assert "not available (reports missing)" in text
    assert "Not measured (reports missing): reliance." in text
    assert ALL == "all"
