"""benchmarks/nanobench_tables.py on small synthetic reports in the real `python -m mimir bench` format (fast)."""

import json

from mimir.bench.report import aggregate, environment

from .scripts import load_benchmark


def video(dimension: str, split: str, i: int, passed: bool) -> dict:
    """One per-video result shaped like `score_video` output plus the CLI's extra keys."""
    return {
        "id": f"{dimension}-{i:04d}-s{i}",  # the same id in both splits, as in our suites
        "dimension": dimension,
        "pass": passed,
        "checks": {"object_class": passed, "color": True},
        "quality": {"background_consistency": 0.99, "temporal_flicker": 0.98, "imaging_quality": 0.8},
        "details": {},
        "suite": f"prompts/bench/{split}/{dimension}.jsonl",
        "split": split,
        "seed": i,
        "prompt": "a red circle",
    }


def report(model: str, passes: dict[tuple[str, str], int], n: int = 4, weights: str | None = None) -> dict:
    """A report as `mimir.bench.cli.run` writes it: `passes[(dimension, split)]` of n videos pass."""
    videos = [video(d, sp, i, i < k) for (d, sp), k in passes.items() for i in range(n)]
    suites = sorted({v["suite"] for v in videos}, key=lambda p: ("heldout" in p, p))
    return {
        "settings": {
            "suite": suites,
            "model": "mimir" if model != "cogvideox" else "cogvideox",
            "ground_truth": False,
            "fusion_type": None,
            "weights": weights,
            "videos_per_prompt": 1,
            "limit": n,
            "num_inference_steps": None,
            "guidance_scale": None,
            "seed": 0,
            "out": "/x/out.json",
            "source": model,
            "video": {"num_frames": 9, "height": 64, "width": 64, "num_inference_steps": 20, "guidance_scale": 4.0},
            "trained_weights": True,
        },
        "environment": environment(),
        "seconds": 1.0,
        "suites": {
            s: {"split": s.split("/")[2], "summary": aggregate([v for v in videos if v["suite"] == s])} for s in suites
        },
        "videos": videos,
    }


def test_markdown_from_synthetic_reports(tmp_path):
    tables = load_benchmark("nanobench_tables")
    oc, col = "object_class", "color"
    cog = {(oc, "train"): 3, (oc, "heldout"): 1, (col, "train"): 4, (col, "heldout"): 0}
    mim = {(oc, "train"): 4, (oc, "heldout"): 2, (col, "train"): 4, (col, "heldout"): 4}
    (tmp_path / "table1_cogvideox.json").write_text(json.dumps(report("cogvideox", cog)))
    (tmp_path / "table1_mimir.json").write_text(json.dumps(report("mimir", mim)))
    # an ablation pair: direct_add fails every object-class video, the control passes them all
    control = {("object_class", "train"): 10, ("object_class", "heldout"): 10}
    collapsed = {("object_class", "train"): 0, ("object_class", "heldout"): 0}
    (tmp_path / "ablation_t5_only.json").write_text(json.dumps(report("mimir", control, n=10, weights="/r/ab_t5")))
    (tmp_path / "ablation_direct_add.json").write_text(json.dumps(report("mimir", collapsed, n=10)))
    logs = tmp_path / "train_logs"
    logs.mkdir()
    for t, loss in (("t5_only", 0.02), ("direct_add", 0.5)):
        (logs / f"args_{t}.json").write_text(json.dumps({"stage": "dit", "fusion_type": t, "max_train_steps": 600}))
        (logs / f"losses_{t}.csv").write_text(f"step,loss,lr,seconds\n300,0.9,1e-4,1\n600,{loss},1e-4,2\n")

    text = tables.build_markdown(tmp_path, "REGEN")

    rows = {line.split(" | ")[0]: line for line in text.splitlines() if line.startswith("| ")}
    # Table 1: object class, CogVideoX 3/4 on training wordings -> 75.0 [30.1, 95.4]; Mimir 4/4 -> 100.0 [51.0, 100.0]
    assert "75.0 [30.1, 95.4]" in rows["| object class"]
    assert "100.0 [51.0, 100.0]" in rows["| object class"]
    # pooled colour: CogVideoX 4/8 = 50.0 [21.5, 78.5]; Mimir 8/8 = 100.0 [67.6, 100.0]
    assert "50.0 [21.5, 78.5]" in rows["| colour"] and "100.0 [67.6, 100.0]" in rows["| colour"]
    assert "| — |" in rows["| colour"]  # no paper figure for Table 1
    # Table 3: the collapse is beyond the intervals, and the paper's quoted figure sits beside direct_add
    assert "0 [0, 16]" in rows["| `direct_add`"] and "87.8 → 5.0" in rows["| `direct_add`"]
    assert "100 [84, 100]" in rows["| `t5_only` (control)"]
    assert "0.5000 (600)" in rows["| `direct_add`"]
    assert "the first is lower, beyond the 95% intervals" in text
    assert "+0 / −20" in text  # paired by (suite, id): ids repeat across the splits
    assert "REGEN" in text and "SCORER_VALIDATION.md" in text
    assert "--limit 4" in text and "--model cogvideox" in text
