"""The full-scale recipe on the CPU at tiny shapes: real video files written with PyAV (the library the trainer decodes
with), the tiny seeded components of tests/tiny.py, the same `train_on_videos` that trains CogVideoX-5B."""

import csv
import json
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from mimir.loading import load_mimir_weights
from mimir.presets import PRESETS
from mimir.text_models import load_smollm2_tokenizer
from mimir.train import PRESET_NAMES, cli_main, parse_args
from mimir.train.components import TrainingComponents
from mimir.train.feature_cache import FeatureCache
from mimir.train.filters import ClipFilter, ScorerSpec, frame_luma
from mimir.train.finetune import check_sizes, clip_loader, train_on_videos
from mimir.train.videos import (
    ClipSpec,
    StepBatches,
    VideoClips,
    collate_clips,
    list_videos,
    read_frames,
    resize_crop,
)

from .tiny import ENCODER_DIM, LLM_DIM, SEQ, tiny_llm, tiny_text_encoder, tiny_video_models


def write_video(path: Path, frames: np.ndarray, fps: int = 8) -> Path:
    """frames: (F, H, W, 3) uint8 -> an H.264 file (PyAV)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.height, stream.width, stream.pix_fmt = frames.shape[1], frames.shape[2], "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def moving_square(seed: int, num_frames: int = 10, height: int = 24, width: int = 32) -> np.ndarray:
    rng = np.random.default_rng(seed)
    frames = np.full((num_frames, height, width, 3), rng.integers(40, 200, 3), dtype=np.uint8)
    colour = rng.integers(0, 256, 3)
    for f in range(num_frames):
        frames[f, 8:16, 2 + 2 * f : 10 + 2 * f] = colour
    return frames


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Four good clips, plus one file that is not a video, one without caption and one too short."""
    folder = tmp_path_factory.mktemp("videos")
    for i in range(4):
        write_video(folder / f"clip{i}.mp4", moving_square(i))
        (folder / f"clip{i}.txt").write_text(f"a square moving right, number {i}")
    (folder / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42 not really a video" * 10)
    (folder / "broken.txt").write_text("a broken file")
    write_video(folder / "uncaptioned.mp4", moving_square(9))
    write_video(folder / "short.mp4", moving_square(5, num_frames=3))
    (folder / "short.txt").write_text("three frames")
    return folder


def make_text_parts() -> tuple:
    """The tiny encoder branch and LLM branch (real tokenizers, tiny random models)."""
    tokenizer, text_encoder = tiny_text_encoder()
    llm_tokenizer = load_smollm2_tokenizer()
    return tokenizer, text_encoder, llm_tokenizer, tiny_llm(llm_tokenizer)


@pytest.fixture(scope="module")
def text_parts():
    return make_text_parts()


def components(text_parts) -> TrainingComponents:
    tokenizer, text_encoder, llm_tokenizer, llm = text_parts
    transformer, vae, scheduler = tiny_video_models()
    return TrainingComponents(
        tokenizer, text_encoder, llm_tokenizer, llm, vae, transformer, scheduler, torch.float32, "tiny"
    )


def args_for(data, run, steps: int, *extra: str):
    argv = ["dit", "--data", str(data), "--output-dir", str(run), "--max-train-steps", str(steps)]
    argv += ["--num-frames", "9", "--height", "16", "--width", "16", "--max-sequence-length", str(SEQ)]
    argv += ["--train-batch-size", "2", "--log-every", "1", "--checkpoint-every", "2", "--dataloader-num-workers", "0"]
    argv += ["--learning-rate", "1e-3", "--lr-warmup-steps", "0", *extra]
    return parse_args(argv)


def loss_rows(run: Path) -> list[tuple[int, float]]:
    with (run / "losses.csv").open() as f:
        return [(int(row["step"]), float(row["loss"])) for row in csv.DictReader(f)]


def losses(run: Path) -> dict[int, float]:
    return dict(loss_rows(run))


def test_two_steps_write_loadable_weights_and_count_skipped_files(videos, text_parts, tmp_path):
    run = tmp_path / "run"
    base = components(text_parts)
    base_state = {k: v.clone() for k, v in base.transformer.state_dict().items()}
    train_on_videos(args_for(videos, run, 2), base)
    assert sorted(losses(run)) == [1, 2] and all(np.isfinite(list(losses(run).values())))
    report = json.loads((run / "data_report.json").read_text())
    assert report["total"] == 7 and report["kept"] == 4
    assert report["skipped"] == {"no_caption": 1, "too_short": 1, "unreadable": 1}
    assert report["broken_during_training"] == 0
    transformer, fuser, llm_branch = load_mimir_weights(run, ENCODER_DIM, LLM_DIM, fusion_type="mimir")
    assert fuser.llm_proj.weight.abs().sum() > 0  # the zero-conv left zero: the fuser trained
    assert any(not torch.equal(v, base_state[k]) for k, v in transformer.state_dict().items())
    assert llm_branch.hidden_layers == (-1,)


def test_a_cache_built_without_tiling_is_refused_by_a_tiled_run(videos, text_parts, tmp_path):
    """Tiled and whole-clip VAE encodes give other latents, so the cache's key holds the setting."""
    cache = ["--cache-dir", str(tmp_path / "cache")]
    train_on_videos(args_for(videos, tmp_path / "whole", 1, *cache), components(text_parts))
    with pytest.raises(ValueError, match=r"was built for other settings \(vae_tiling differ\)"):
        train_on_videos(args_for(videos, tmp_path / "tiled", 1, *cache, "--vae-tiling"), components(text_parts))
    assert not (tmp_path / "tiled" / "losses.csv").exists()  # refused before any step


def test_a_resumed_run_continues_the_loss_curve_of_an_uninterrupted_one(videos, text_parts, tmp_path):
    """Same data order and noise per step: 2 steps, stop, resume to 4 == 4 steps straight (through the cache)."""
    cache = ["--cache-dir", str(tmp_path / "cache"), "--cache-shard-size", "3"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    train_on_videos(args_for(videos, straight, 4, *cache), components(text_parts))
    assert len(list((tmp_path / "cache").glob("shard_*.safetensors"))) == 2  # 4 clips in shards of 3
    train_on_videos(args_for(videos, resumed, 2, *cache), components(text_parts))
    # The resumed process builds other initial weights: only the checkpoint can bring the run back.
    fresh = components(text_parts)
    with torch.no_grad():
        for p in fresh.transformer.parameters():
            p.add_(0.05 * torch.randn_like(p))
    train_on_videos(args_for(videos, resumed, 4, *cache), fresh)
    a, b = losses(straight), losses(resumed)
    assert [step for step, _ in loss_rows(resumed)] == [1, 2, 3, 4]  # continued at 3, not restarted
    for step in (1, 2, 3, 4):
        assert b[step] == pytest.approx(a[step], rel=1e-5), (step, a, b)
    assert len({round(v, 6) for v in a.values()}) == 4  # the steps differ: equality is not by construction


def test_t5_only_with_8bit_adamw_checkpointing_and_tensorboard(videos, text_parts, tmp_path):
    """The control without the LLM branch, through the memory savers and the tracker of a 5B run."""
    run = tmp_path / "t5_only"
    extra = ["--fusion-type", "t5_only", "--optimizer", "adamw8bit", "--gradient-checkpointing"]
    args = args_for(videos, run, 2, *extra, "--report-to", "tensorboard", "--transformer-dtype", "bf16")
    parts = components(text_parts)
    parts.transformer.to(torch.bfloat16)  # what --transformer-dtype bf16 gives through the preset loader
    before = {k: v.clone() for k, v in parts.transformer.state_dict().items()}
    train_on_videos(args, parts)
    assert parts.transformer.is_gradient_checkpointing
    assert list(run.rglob("events.out.tfevents.*"))  # the accelerate tracker wrote its log
    saved = load_file(run / "transformer" / "diffusion_pytorch_model.safetensors")
    assert {t.dtype for t in saved.values()} == {torch.bfloat16}  # trained and saved without fp32 master weights
    transformer, fuser, _ = load_mimir_weights(run, ENCODER_DIM, LLM_DIM, fusion_type="t5_only")
    assert not list(fuser.parameters())
    assert any(not torch.equal(v, before[k]) for k, v in transformer.state_dict().items())


def test_a_file_broken_after_the_scan_is_skipped_and_counted(videos, text_parts, tmp_path):
    data = tmp_path / "videos"
    data.mkdir()
    for path in videos.glob("clip*"):
        (data / path.name).write_bytes(path.read_bytes())
    run = tmp_path / "run"
    train_on_videos(args_for(data, run, 1), components(text_parts))  # scans: 4 good clips, clip0..clip3 in order
    second = StepBatches(4, 2, world=1, rank=0, seed=0, start_step=1, end_step=2).batch(1)  # step 2's two clips
    (data / f"clip{second[0]}.mp4").write_bytes(b"truncated")  # the disk changes under a long run
    train_on_videos(args_for(data, run, 2), components(text_parts))
    report = json.loads((run / "data_report.json").read_text())
    assert report["kept"] == 4 and report["broken_during_training"] == 1
    assert [step for step, _ in loss_rows(run)] == [1, 2]  # the step was taken on the clip that still decodes
    with pytest.raises(ValueError, match="started with other clip"):  # a resume must read the same clips
        train_on_videos(args_for(data, run, 3, "--fps", "4"), components(text_parts))


def test_gradient_accumulation_steps_the_optimizer_once_per_k_batches(videos, text_parts, tmp_path):
    run = tmp_path / "accumulate"
    train_on_videos(
        args_for(videos, run, 2, "--gradient-accumulation-steps", "2", "--train-batch-size", "1"),
        components(text_parts),
    )
    assert [step for step, _ in loss_rows(run)] == [1, 2]
    optimizer = torch.load(run / "trainer_state" / "optimizer.bin", weights_only=False)
    assert {int(s["step"]) for s in optimizer["state"].values()} == {2}  # 4 batches, 2 AdamW steps


def test_lora_weights_load_onto_the_base_dit(videos, text_parts, tmp_path):
    run = tmp_path / "lora"
    parts = components(text_parts)
    extra = ["--lora-rank", "2", "--use-ema", "--ema-decay", "0.5", "--encoder-dropout", "0.5"]
    train_on_videos(args_for(videos, run, 2, *extra), parts)
    assert (run / "transformer_lora" / "pytorch_lora_weights.safetensors").exists()
    assert not (run / "transformer").exists()
    base, _, _ = tiny_video_models()
    with pytest.raises(ValueError, match="needs that base DiT"):
        load_mimir_weights(run, ENCODER_DIM, LLM_DIM)
    other, _, _ = tiny_video_models(sample_height=4)
    with pytest.raises(ValueError, match="other sample_height than this preset's"):
        load_mimir_weights(run, ENCODER_DIM, LLM_DIM, base_transformer=other)
    transformer, _, _ = load_mimir_weights(run, ENCODER_DIM, LLM_DIM, base_transformer=base)
    changed = [k for k, v in transformer.state_dict().items() if not torch.equal(v, base.state_dict()[k])]
    assert changed and all(k.endswith("weight") and ".attn1." in k for k in changed)  # the adapted projections only
    assert set(transformer.state_dict()) == set(base.state_dict())  # fused: no LoRA layers left


def test_lora_on_a_float8_base_trains_the_adapters_and_stores_the_base_in_one_byte(videos, text_parts, tmp_path):
    run = tmp_path / "lora_fp8"
    parts = components(text_parts)
    extra = ["--lora-rank", "2", "--lora-base-storage", "float8_e4m3fn", "--gradient-checkpointing"]
    train_on_videos(args_for(videos, run, 2, *extra), parts)
    assert all(np.isfinite(list(losses(run).values())))
    params = dict(parts.transformer.named_parameters())
    base = [n for n in params if n.endswith("to_q.base_layer.weight") or n.endswith("proj_out.weight")]
    adapters = [n for n in params if ".lora_A." in n or ".lora_B." in n]
    assert base and adapters
    assert params[base[0]].dtype == torch.float8_e4m3fn  # an adapted projection's frozen base: 1 byte per weight
    assert all(params[n].dtype == torch.float32 and params[n].requires_grad for n in adapters)  # the DiT's dtype
    assert any(params[n].abs().sum() > 0 for n in adapters if ".lora_B." in n)  # lora_B starts at zero: it trained
    assert parts.transformer.patch_embed.proj.weight.dtype == torch.float32  # the model's skip list: left as it was
    # The weights folder is the adapter alone, and loads onto a full-precision base like any LoRA.
    transformer, _, _ = load_mimir_weights(run, ENCODER_DIM, LLM_DIM, base_transformer=tiny_video_models()[0])
    assert {p.dtype for p in transformer.parameters()} == {torch.float32}


def test_float8_storage_without_lora_is_refused(videos, text_parts, tmp_path):
    with pytest.raises(ValueError, match="--lora-base-storage=float8_e4m3fn stores the frozen base of a LoRA"):
        train_on_videos(
            args_for(videos, tmp_path / "r", 1, "--lora-base-storage", "float8_e4m3fn"), components(text_parts)
        )
    assert not (tmp_path / "r").exists()  # refused before the run folder is made


def test_loader_workers_are_spawned_and_give_the_batches_of_the_main_process(videos):
    """Forked workers hung on the GPU machine (see clip_loader); spawned ones must see the same clips, in order."""
    items = [i for i in list_videos(videos) if Path(i.path).stem.startswith("clip")]  # the 4 good clips
    clips = VideoClips(items, ClipSpec(num_frames=9, height=16, width=16))
    batches = StepBatches(len(clips), 2, world=1, rank=0, seed=0, start_step=0, end_step=3)
    spawned = clip_loader(clips, batches, collate_clips, num_workers=2)
    assert spawned.multiprocessing_context.get_start_method() == "spawn"
    inline = list(clip_loader(clips, batches, collate_clips, num_workers=0))
    got = list(spawned)
    assert len(got) == len(inline) == 3
    for a, b in zip(got, inline):
        assert a["caption"] == b["caption"] and torch.equal(a["video"], b["video"])


def test_filters_on_constructed_clips():
    grey = torch.full((4, 24, 32, 3), 100, dtype=torch.uint8)  # luma 100, aspect 4:3
    assert frame_luma(grey).tolist() == pytest.approx([100.0] * 4)
    half_black = grey.clone()
    half_black[:2] = 0  # 2 of 4 frames black
    assert ClipFilter(max_black_frame_ratio=0.4).reject(half_black, 2.0, "c") == "black_frames"
    assert ClipFilter(max_black_frame_ratio=0.5).reject(half_black, 2.0, "c") is None
    assert ClipFilter(min_brightness=101).reject(grey, 2.0, "c") == "brightness"
    assert ClipFilter(min_brightness=99, max_brightness=101).reject(grey, 2.0, "c") is None
    assert ClipFilter(max_aspect=1.3).reject(grey, 2.0, "c") == "aspect_ratio"  # 32 / 24 = 1.33
    assert ClipFilter(min_aspect=1.3, max_aspect=1.34).reject(grey, 2.0, "c") is None
    assert ClipFilter(min_seconds=2.5).reject(grey, 2.0, "c") == "too_short"
    scorer = ScorerSpec.parse("tests.test_train_videos:red_share:0.5")
    red = grey.clone()
    red[..., 0] = 255
    assert ClipFilter(scorers=(scorer,)).reject(grey, 2.0, "c") == "score:tests.test_train_videos:red_share"
    assert ClipFilter(scorers=(scorer,)).reject(red, 2.0, "c") is None


def red_share(frames: torch.Tensor, caption: str) -> float:
    """A scorer for the hook's test: the share of pixels whose red channel dominates."""
    f = frames.float()
    return (f[..., 0] > f[..., 1:].amax(-1)).float().mean().item()


def test_filters_read_decoded_files(tmp_path):
    """Through PyAV: a clip that is half black frames, and its brightness, survive H.264 to within a few levels."""
    frames = np.full((10, 24, 32, 3), 120, dtype=np.uint8)
    frames[5:] = 0
    path = write_video(tmp_path / "half_black.mp4", frames)
    decoded, seconds = read_frames(str(path), ClipSpec(num_frames=10, height=16, width=16, fps=None))
    assert decoded.shape == (10, 24, 32, 3) and seconds == pytest.approx(10 / 8, abs=0.2)
    luma = frame_luma(decoded)
    assert (luma[:5] - 120).abs().max() < 4 and luma[5:].max() < 4
    assert ClipFilter(max_black_frame_ratio=0.3).reject(decoded, seconds, "c") == "black_frames"


def test_frame_sampling_follows_the_requested_rate(tmp_path):
    frames = np.stack([np.full((16, 16, 3), 20 * i, dtype=np.uint8) for i in range(12)])  # frame i has level 20 i
    path = write_video(tmp_path / "ramp.mp4", frames, fps=16)
    decoded, _ = read_frames(str(path), ClipSpec(num_frames=5, height=16, width=16, fps=8))  # every 2nd frame
    levels = frame_luma(decoded)
    assert levels.tolist() == pytest.approx([0, 40, 80, 120, 160], abs=4)
    with pytest.raises(Exception, match="too_short: .* 6 of 7 frames"):
        read_frames(str(path), ClipSpec(num_frames=7, height=16, width=16, fps=8))


def test_resize_crop_covers_then_crops_the_centre():
    frame = torch.zeros(1, 32, 48, 3, dtype=torch.uint8)
    frame[..., :16, 0] = 255  # left third red
    frame[..., 16:32, 1] = 255  # middle third green
    frame[..., 32:, 2] = 255  # right third blue
    video = resize_crop(frame, 16, 16)  # scale 0.5 -> 16 x 24, crop columns 4..20
    assert video.shape == (3, 1, 16, 16) and video.min() >= -1 and video.max() <= 1
    rgb = (video[:, 0, 8] + 1) / 2  # (3, 16), the middle row
    assert rgb[:, 0].argmax() == 0 and rgb[:, 8].argmax() == 1 and rgb[:, 15].argmax() == 2
    assert rgb[:, 2].tolist() == pytest.approx([1, 0, 0], abs=0.02)  # source column 12: red, away from the border


def test_step_batches_are_a_function_of_the_step():
    full = StepBatches(5, 2, world=2, rank=1, seed=3, start_step=0, end_step=6)
    later = StepBatches(5, 2, world=2, rank=1, seed=3, start_step=4, end_step=6)
    assert list(later) == list(full)[4:]
    other_rank = StepBatches(5, 2, world=2, rank=0, seed=3, start_step=0, end_step=1)
    # within one epoch (positions 0..4) the two processes take different items
    assert not set(next(iter(other_rank))) & set(next(iter(full)))
    epoch = [i for s in range(5) for i in StepBatches(5, 1, 1, 0, 3, s, s + 1).batch(s)]
    assert sorted(epoch) == [0, 1, 2, 3, 4]  # an epoch is a permutation
    with pytest.raises(ValueError, match="no training videos"):
        StepBatches(0, 2, 1, 0, 0, 0, 1)


def test_bad_data_and_sizes_are_refused_with_the_value(tmp_path, text_parts, capsys):
    with pytest.raises(ValueError, match="'/nonexistent/videos' does not exist"):
        list_videos("/nonexistent/videos")
    # the command line says so in one line, before it loads any model
    argv = ["dit", "--data", "/nonexistent/videos", "--output-dir", str(tmp_path / "r"), "--max-train-steps", "1"]
    assert cli_main(argv) == 2
    assert "error: --data '/nonexistent/videos' does not exist" in capsys.readouterr().err
    table = tmp_path / "list.csv"
    table.write_text("file,text\na.mp4,hello\n")
    with pytest.raises(ValueError, match=r"columns \['file', 'text'\].*'video' and 'caption'"):
        list_videos(table)
    (tmp_path / "list.jsonl").write_text('{"video": "a.mp4", "caption": "hi"}\n\n{"video": "sub/b.mp4"}\n')
    items = list_videos(tmp_path / "list.jsonl")
    assert [(Path(i.path).relative_to(tmp_path).as_posix(), i.caption) for i in items] == [
        ("a.mp4", "hi"),
        ("sub/b.mp4", None),
    ]
    transformer, vae, _ = tiny_video_models()
    with pytest.raises(ValueError, match=r"num_frames=10 must be 4k \+ 1"):
        check_sizes(ClipSpec(10, 16, 16), vae, transformer)
    with pytest.raises(ValueError, match="width=20 must be a multiple of 8"):
        check_sizes(ClipSpec(9, 16, 20), vae, transformer)
    with pytest.raises(ValueError, match="MODULE:FUNCTION:MIN_SCORE"):
        ScorerSpec.parse("just_a_name")
    with pytest.raises(SystemExit, match="--train-batch-size 0: must be at least 1"):
        args_for(tmp_path, tmp_path / "run", 1, "--train-batch-size", "0")
    with pytest.raises(SystemExit, match="drop --vae"):
        args_for(tmp_path, tmp_path / "run", 1, "--vae", "some/vae")
    cache = FeatureCache(tmp_path / "cache", {"vae": 1}, num_items=3, shard_size=2)
    assert cache.missing() == [0, 1]
    with pytest.raises(ValueError, match="vae differ"):
        FeatureCache(tmp_path / "cache", {"vae": 2}, num_items=3, shard_size=2)


def test_cli_preset_names_are_the_registry():
    assert PRESET_NAMES == tuple(PRESETS)
