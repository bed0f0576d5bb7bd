"""NanoBench scorer, suites, report and CLI on hand-built frames (fast; no model)."""

import json

import numpy as np
import pytest

from mimir.bench import aggregate, format_table, score_video, wilson_interval
from mimir.bench.cli import cli_main
from mimir.bench.detect import detect_frame
from mimir.bench.suite import load_suites, spec_seed
from mimir.bench.validate import counterfactual, degrade
from mimir.world import vocab
from mimir.world.spec import parse_spec


F, H, W = 9, 64, 64
R = 7  # half-size of a drawn shape: 14 px boxes, like the renderer at 64x64


def blank(background=vocab.BACKGROUND) -> np.ndarray:
    return np.broadcast_to(np.asarray(background, dtype=np.float32) / 255, (F, H, W, 3)).copy()  # (F, H, W, 3)


def draw(frames: np.ndarray, t, shape: str, color: str, cx: float, cy: float) -> None:
    """Paint a flat shape into frames[t] (t an int or a slice) in place, hard edges."""
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    ax, ay = np.abs(xx - cx), np.abs(yy - cy)
    if shape == "circle":
        mask = ax**2 + ay**2 <= R**2
    elif shape == "square":
        mask = (ax <= R) & (ay <= R)
    elif shape == "triangle":  # apex up
        mask = (yy - cy <= R) & (2 * ax <= (yy - cy) + R)
    else:  # cross, arms a third of the box wide
        mask = ((ax <= R / 3) & (ay <= R)) | ((ay <= R / 3) & (ax <= R))
    frames[t, mask] = np.asarray(vocab.COLORS[color], dtype=np.float32) / 255


def spec(dimension: str, objects: list[tuple], **extra) -> "parse_spec":
    objs = [{"shape": s, "color": c, "count": n} for s, c, n in objects]
    return parse_spec({"id": "t", "dimension": dimension, "prompt": "p", "objects": objs, **extra})


def static_scene(*items: tuple) -> np.ndarray:
    """items: (shape, color, cx, cy) drawn in every frame."""
    frames = blank()
    for shape, color, cx, cy in items:
        draw(frames, slice(None), shape, color, cx, cy)
    return frames


@pytest.mark.parametrize("shape", vocab.SHAPES)
def test_detects_every_shape_and_colour(shape):
    for color in vocab.COLORS:
        frames = static_scene((shape, color, 32, 32))
        (det,) = detect_frame(frames[0]).objects
        assert (det.shape, det.color) == (shape, color)


def test_color_and_object_class():
    video = static_scene(("circle", "red", 32, 32))
    assert score_video(video, spec("color", [("circle", "red", 1)]))["pass"]
    assert not score_video(video, spec("color", [("circle", "blue", 1)]))["pass"]  # wrong colour
    assert score_video(video, spec("object_class", [("circle", "red", 1)]))["pass"]
    square = static_scene(("square", "red", 32, 32))
    assert not score_video(square, spec("object_class", [("circle", "red", 1)]))["pass"]  # a square is no circle
    # generated colours are a bit off: a duller, shifted red is still red
    off = video.copy()
    off[video[..., 0] > 0.8] = (0.75, 0.22, 0.15)
    assert score_video(off, spec("color", [("circle", "red", 1)]))["pass"]


def test_uint8_input_and_bad_shape():
    video = (static_scene(("cross", "green", 20, 40)) * 255).round().astype(np.uint8)
    assert score_video(video, spec("object_class", [("cross", "green", 1)]))["pass"]
    with pytest.raises(ValueError, match="shape"):
        score_video(video[0], spec("object_class", [("cross", "green", 1)]))


def test_count():
    video = static_scene(*(("triangle", "yellow", x, y) for x, y in [(12, 12), (40, 12), (26, 44)]))
    assert score_video(video, spec("count", [("triangle", "yellow", 3)]))["pass"]
    assert not score_video(video, spec("count", [("triangle", "yellow", 2)]))["pass"]


def test_multiple_objects():
    both = static_scene(("circle", "red", 16, 32), ("square", "blue", 48, 32))
    one = static_scene(("circle", "red", 16, 32))
    s = spec("multiple_objects", [("circle", "red", 1), ("square", "blue", 1)])
    assert score_video(both, s)["pass"]
    assert not score_video(one, s)["pass"]


def test_spatial_relationship():
    video = static_scene(("circle", "red", 14, 30), ("square", "blue", 48, 34))
    objs = [("circle", "red", 1), ("square", "blue", 1)]
    assert score_video(video, spec("spatial_relationship", objs, relation="left_of"))["pass"]
    assert not score_video(video, spec("spatial_relationship", objs, relation="right_of"))["pass"]
    assert not score_video(video, spec("spatial_relationship", objs, relation="above"))["pass"]


def moving(path: list[tuple[float, float]], shape="circle", color="orange") -> np.ndarray:
    frames = blank()
    for t, (cx, cy) in enumerate(path):
        draw(frames, t, shape, color, cx, cy)
    return frames


def test_motion_direction():
    video = moving([(12 + 5 * t, 32) for t in range(F)])  # 40 px to the right
    obj = [("circle", "orange", 1)]
    result = score_video(video, spec("motion", obj, motion=[{"object": 0, "direction": "right"}]))
    assert result["pass"] and result["checks"]["object_class"]
    assert not score_video(video, spec("motion", obj, motion=[{"object": 0, "direction": "left"}]))["pass"]
    assert not score_video(video, spec("motion", obj, motion=[{"object": 0, "direction": "up"}]))["pass"]
    still = static_scene(("circle", "orange", 32, 32))
    assert not score_video(still, spec("motion", obj, motion=[{"object": 0, "direction": "right"}]))["pass"]


def test_temporal_order():
    # right during the first half, then down during the second half
    path = [(12 + 6 * min(t, 4), 12 + 6 * max(t - 4, 0)) for t in range(F)]
    video = moving(path)
    obj = [("circle", "orange", 1)]
    right, down = {"object": 0, "direction": "right"}, {"object": 0, "direction": "down"}
    assert score_video(video, spec("temporal_order", obj, motion=[right, down]))["pass"]
    assert not score_video(video, spec("temporal_order", obj, motion=[down, right]))["pass"]  # wrong order


def test_appearance():
    video = blank()
    draw(video, slice(None), "square", "white", 16, 32)
    draw(video, slice(3, None), "circle", "cyan", 48, 32)  # absent in the first third
    objs = [("square", "white", 1), ("circle", "cyan", 1)]
    assert score_video(video, spec("appearance", objs, event={"object": 1, "event": "appear"}))["pass"]
    assert not score_video(video, spec("appearance", objs, event={"object": 1, "event": "disappear"}))["pass"]
    assert not score_video(video, spec("appearance", objs, event={"object": 0, "event": "appear"}))["pass"]


def test_lighting():
    tau = np.linspace(0, 1, F)[:, None]  # (F, 1)
    dark, bright = np.asarray(vocab.BACKGROUND_DARK) / 255, np.asarray(vocab.BACKGROUND_BRIGHT) / 255
    video = np.broadcast_to((dark * (1 - tau) + bright * tau)[:, None, None, :], (F, H, W, 3)).astype(np.float32)
    video = video.copy()
    draw(video, slice(None), "circle", "yellow", 32, 32)
    obj = [("circle", "yellow", 1)]
    assert score_video(video, spec("lighting", obj, lighting="brightens"))["pass"]
    assert not score_video(video, spec("lighting", obj, lighting="darkens"))["pass"]
    assert not score_video(static_scene(("circle", "yellow", 32, 32)), spec("lighting", obj, lighting="darkens"))[
        "pass"
    ]


def test_noise_fails_and_quality_in_range():
    rng = np.random.default_rng(0)
    noise = rng.uniform(0, 1, (F, H, W, 3)).astype(np.float32)
    s = spec("color", [("circle", "red", 1)])
    result = score_video(noise, s)
    assert not result["pass"]
    clean = score_video(static_scene(("circle", "red", 32, 32)), s)
    for q in ("background_consistency", "temporal_flicker", "imaging_quality"):
        assert 0.0 <= result["quality"][q] <= 1.0
        assert clean["quality"][q] > result["quality"][q]


def test_ground_truth_renders_pass_and_counterfactuals_fail():
    from mimir.world.render import render

    specs = [
        spec("spatial_relationship", [("cross", "purple", 1), ("triangle", "green", 1)], relation="below"),
        spec("motion", [("square", "cyan", 2)], motion=[{"object": 0, "direction": "up"}]),
        spec("count", [("circle", "white", 4)]),
        spec("appearance", [("triangle", "red", 1)], event={"object": 0, "event": "disappear"}),
    ]
    videos = render(specs, [1, 2, 3, 4]).numpy()
    rng = np.random.default_rng(0)
    for video, s in zip(videos, specs):
        assert all(score_video(video, s)["checks"].values()), s
        assert score_video(degrade(video, rng), s)["pass"], s
        assert not score_video(video, counterfactual(s))["pass"], s


def test_spec_seed():
    assert spec_seed(parse_spec({"id": "color-0001-s4242", "dimension": "color", "prompt": "p",
                                 "objects": [{"shape": "circle", "color": "red"}]})) == 4242  # fmt: skip
    s = spec("color", [("circle", "red", 1)])
    assert spec_seed(s) == spec_seed(s)  # crc32 of the id: stable


def write_suite(path, lines: list[str]) -> str:
    path.write_text("\n".join(lines) + "\n")
    return str(path)


GOOD = json.dumps(
    {"id": "a-s1", "dimension": "color", "prompt": "a red circle", "objects": [{"shape": "circle", "color": "red"}]}
)


def test_suite_validation_names_bad_line(tmp_path):
    bad = GOOD.replace('"a-s1"', '"b"').replace('"circle"', '"hexagon"')
    path = write_suite(tmp_path / "s.jsonl", [GOOD, bad])
    with pytest.raises(ValueError, match=r"s\.jsonl:2:.*hexagon"):
        load_suites([path])


def test_cli_rejects_bad_suite_before_generating(tmp_path, monkeypatch, capsys):
    import mimir.bench.cli as cli

    good = write_suite(tmp_path / "good.jsonl", [GOOD])
    bad = write_suite(tmp_path / "bad.jsonl", [GOOD, "{not json"])

    def no_generation(*args, **kwargs):
        raise AssertionError("generation started before validation")

    monkeypatch.setattr(cli.GroundTruthSource, "__call__", no_generation)
    assert cli_main(["--suite", good, "--suite", bad, "--ground-truth"]) == 2
    assert "bad.jsonl:2:" in capsys.readouterr().err


def test_cli_report(tmp_path, capsys):
    lines = [GOOD, GOOD.replace('"a-s1"', '"b-s2"').replace('"color"', '"object_class"', 1)]
    suite = write_suite(tmp_path / "mix.jsonl", lines)
    out = tmp_path / "report.json"
    assert cli_main(["--suite", suite, "--ground-truth", "--videos-per-prompt", "2", "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert {"settings", "environment", "suites", "videos"} <= set(report)
    assert len(report["videos"]) == 4
    summary = report["suites"][suite]["summary"]
    assert set(summary) == {"color", "object_class"}
    for s in summary.values():
        assert 0.0 <= s["ci_low"] <= s["pass_rate"] <= s["ci_high"] <= 1.0
        assert s["n"] == 2
    assert "object_class" in capsys.readouterr().out


def test_wilson_and_aggregate():
    for k, n in [(0, 10), (10, 10), (3, 7), (0, 0)]:
        lo, hi = wilson_interval(k, n)
        assert 0.0 <= lo <= hi <= 1.0
    lo, hi = wilson_interval(50, 100)
    assert lo == pytest.approx(0.404, abs=1e-3) and hi == pytest.approx(0.596, abs=1e-3)
    q = {"background_consistency": 1.0, "temporal_flicker": 1.0, "imaging_quality": 0.5}
    results = [{"dimension": "color", "pass": p, "checks": {"color": p}, "quality": q} for p in (True, False, True)]
    summary = aggregate(results)
    assert summary["color"]["pass_rate"] == pytest.approx(2 / 3)
    table = format_table(summary, markdown=True)
    assert table.splitlines()[0].startswith("| dimension") and "66.7" in table


def test_shipped_suites_pair_up():
    from pathlib import Path

    root = Path(__file__).resolve().parents[1] / "prompts" / "bench"
    for dimension in vocab.DIMENSIONS:
        paths = [str(root / split / f"{dimension}.jsonl") for split in ("train", "heldout")]
        train, heldout = load_suites(paths).values()
        assert len(train) >= 100 and {s.dimension for s in train} == {dimension}
        strip = [(s.to_dict() | {"prompt": ""}) for s in train]
        assert strip == [(s.to_dict() | {"prompt": ""}) for s in heldout]  # same specs, other wording
        assert sum(a.prompt != b.prompt for a, b in zip(train, heldout)) > 0.9 * len(train)


# ---- the CLI's batching, scoring workers, report format and pipeline defaults -------------------------------------

TINY_VIDEO = {"num_frames": 9, "height": 16, "width": 16, "num_inference_steps": 2, "guidance_scale": 3.0}


@pytest.fixture(scope="module")
def tiny_mimir():
    """The tiny seeded Mimir pipeline of tests/tiny.py, with its fuser moved off its zero init so that the LLM branch
    changes the video (at init zero-conv outputs zero and the branch could be switched off without any effect)."""
    import torch

    from mimir.pipeline import MimirPipeline
    from mimir.text_models import load_smollm2_tokenizer
    from mimir.token_fuser import TokenFuser

    from .tiny import ENCODER_DIM, LLM_DIM, SEQ, tiny_llm, tiny_text_encoder, tiny_video_models

    tokenizer, text_encoder = tiny_text_encoder()
    llm_tokenizer = load_smollm2_tokenizer()
    transformer, vae, scheduler = tiny_video_models()
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM)
    with torch.no_grad():
        for p in fuser.parameters():
            p.add_(0.1 * torch.randn_like(p))
    return MimirPipeline(
        tokenizer, text_encoder, vae, transformer, scheduler, fuser,
        llm_tokenizer=llm_tokenizer, llm=tiny_llm(llm_tokenizer), max_sequence_length=SEQ, max_num_frames=17,
    )  # fmt: skip


def test_a_video_does_not_depend_on_its_batch(tiny_mimir):
    from mimir.bench.cli import generate_batch

    # prompts of different lengths: the LLM branch pads the batch to its longest prompt
    prompts = ["a red circle", "two blue squares move to the left, then a green cross appears", "a yellow triangle"]
    seeds = [11, 22, 33]
    batch = generate_batch(tiny_mimir, prompts, seeds, TINY_VIDEO)  # (3, F, H, W, 3)
    assert batch.shape == (3, 9, 16, 16, 3)
    for b in range(3):
        alone = generate_batch(tiny_mimir, prompts[b : b + 1], seeds[b : b + 1], TINY_VIDEO)[0]  # (F, H, W, 3)
        np.testing.assert_allclose(batch[b], alone, rtol=0, atol=1e-5)
    # and the seeds do matter: the same prompt under another seed is another video
    other = generate_batch(tiny_mimir, prompts[:1], [12], TINY_VIDEO)[0]
    assert np.abs(other - batch[0]).max() > 1e-3


class FakePipes:
    """What `load_pipelines` returns, holding the tiny pipeline; the defaults are the preset's, not the bench's."""

    def __init__(self, pipe):
        self.mimir = self.cogvideox = pipe
        self.trained = False
        self.defaults = dict(TINY_VIDEO)

    def pipeline(self, model):
        return getattr(self, model)


def test_model_source_uses_pipeline_defaults_and_llm_branch(tiny_mimir, monkeypatch, tmp_path):
    import mimir.loading
    from mimir.bench.cli import build_parser, generate_batch, run

    monkeypatch.setattr(mimir.loading, "load_pipelines", lambda **kwargs: FakePipes(tiny_mimir))
    suite = write_suite(tmp_path / "s.jsonl", [GOOD])
    on = run(build_parser().parse_args(["--suite", suite, "--model", "mimir"]))
    off = run(build_parser().parse_args(["--suite", suite, "--model", "mimir", "--llm-branch", "off"]))
    assert on["settings"]["video"] == TINY_VIDEO and off["settings"]["llm_branch"] == "off"
    steps = run(build_parser().parse_args(["--suite", suite, "--model", "mimir", "--num-inference-steps", "1"]))
    assert steps["settings"]["video"] == {**TINY_VIDEO, "num_inference_steps": 1}

    # the flag reaches the pipeline: the source's video is the pipeline's own with llm_branch="off", not "on"
    from mimir.bench.cli import ModelSource

    spec = load_suites([suite])[suite][0]
    source = ModelSource(build_parser().parse_args(["--suite", suite, "--model", "mimir", "--llm-branch", "off"]))
    got = source([spec], [5])[0]
    want_off = generate_batch(tiny_mimir, [spec.prompt], [5], TINY_VIDEO, llm_branch="off")[0]
    want_on = generate_batch(tiny_mimir, [spec.prompt], [5], TINY_VIDEO, llm_branch="on")[0]
    np.testing.assert_array_equal(got, want_off)
    assert np.abs(want_on - want_off).max() > 1e-4


def test_cli_flags_that_need_the_mimir_model(tmp_path, capsys):
    suite = write_suite(tmp_path / "s.jsonl", [GOOD])
    assert cli_main(["--suite", suite, "--ground-truth", "--llm-branch", "off"]) == 2
    assert "--llm-branch='off' applies to --model mimir only" in capsys.readouterr().err
    assert cli_main(["--suite", suite, "--ground-truth", "--batch-size", "0"]) == 2
    assert "--batch-size=0: must be >= 1" in capsys.readouterr().err
    assert cli_main(["--suite", suite, "--ground-truth", "--videos-per-prompt", "0"]) == 2


def test_cli_batches_and_workers_change_nothing_and_gzip(tmp_path):
    from mimir.bench.report import load_report

    lines = [
        GOOD,
        GOOD.replace('"a-s1"', '"b-s2"').replace('"color"', '"object_class"', 1),
        json.dumps({"id": "c-s3", "dimension": "count", "prompt": "three green squares",
                    "objects": [{"shape": "square", "color": "green", "count": 3}]}),
    ]  # fmt: skip
    suite = write_suite(tmp_path / "mix.jsonl", lines)
    common = ["--suite", suite, "--ground-truth", "--videos-per-prompt", "2"]
    plain, fast = tmp_path / "plain.json", tmp_path / "fast.json.gz"
    assert cli_main(common + ["--out", str(plain)]) == 0
    assert cli_main(common + ["--batch-size", "4", "--workers", "2", "--details", "--out", str(fast)]) == 0
    a, b = load_report(plain), load_report(fast)
    assert fast.read_bytes()[:2] == b"\x1f\x8b"  # gzip
    assert [v["seed"] for v in a["videos"]] == [v["seed"] for v in b["videos"]]  # same order
    assert set(a["videos"][0]) == {"id", "dimension", "split", "seed", "prompt", "pass", "checks", "quality", "suite"}
    assert "details" in b["videos"][0]
    assert [{k: v[k] for k in a["videos"][0]} for v in b["videos"]] == a["videos"]
    assert a["suites"] == b["suites"] and b["settings"]["workers"] == 2
