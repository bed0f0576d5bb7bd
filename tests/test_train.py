"""Training smoke tests on the CPU: each stage runs, logs, checkpoints and resumes from its checkpoint."""

import csv
import json

import pytest
import torch
from diffusers import CogVideoXTransformer3DModel

from mimir.train import build_parser
from mimir.train.diffusion import train_dit
from mimir.train.vae import object_weights, train_vae
from mimir.world.render import render
from mimir.world.sampler import sample_spec


pytestmark = pytest.mark.slow
SMALL = [
    "--pool-size",
    "8",
    "--height",
    "32",
    "--width",
    "32",
    "--train-batch-size",
    "2",
    "--log-every",
    "1",
    "--checkpoint-every",
    "2",
]


def steps_logged(run) -> list[int]:
    with (run / "losses.csv").open() as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def test_object_weights_mark_object_pixels():
    import random

    spec = sample_spec(random.Random(0), dimension="color")
    video = render([spec], [0]).permute(0, 4, 1, 2, 3) * 2 - 1  # (1, 3, F, H, W)
    w = object_weights(video, 10.0)
    share = (w > 1).float().mean().item()
    assert 0.01 < share < 0.3  # objects are a few percent of the pixels, never none, never all
    assert w[..., 0, 0].eq(1).all()


def test_vae_then_dit_then_mimir_finetune_with_resume(tmp_path):
    vae_run = tmp_path / "vae"
    train_vae(build_parser().parse_args(["vae", "--output-dir", str(vae_run), "--max-train-steps", "2", *SMALL]))
    assert (vae_run / "vae" / "config.json").exists() and steps_logged(vae_run) == [1, 2]

    common = [
        "--vae",
        str(vae_run / "vae"),
        "--encode-batch-size",
        "8",
        "--cache-dir",
        str(tmp_path / "cache"),
        *SMALL,
    ]
    base = tmp_path / "cogvideox"
    train_dit(build_parser().parse_args(["dit", "--output-dir", str(base), "--max-train-steps", "2", *common]))
    first = CogVideoXTransformer3DModel.from_pretrained(base / "transformer")
    # resuming continues from step 2 to step 4 with the optimizer state, not from scratch
    train_dit(build_parser().parse_args(["dit", "--output-dir", str(base), "--max-train-steps", "4", *common]))
    assert steps_logged(base) == [1, 2, 3, 4]
    assert json.loads((base / "environment.json").read_text())["packages"]["diffusers"] is not None
    # the pool latents are cached under the VAE's weights digest: a retrained VAE cannot pick up stale latents
    from mimir.train.checkpoint import weights_digest

    cached = list((tmp_path / "cache").glob("latents_*.pt"))
    assert [c.name.endswith(f"_vae{weights_digest(vae_run / 'vae')}.pt") for c in cached] == [True]
    resumed = CogVideoXTransformer3DModel.from_pretrained(base / "transformer")
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), resumed.parameters()))

    mimir = tmp_path / "mimir"
    args = [
        "dit",
        "--output-dir",
        str(mimir),
        "--fusion-type",
        "mimir",
        "--init-transformer",
        str(base / "transformer"),
        "--max-train-steps",
        "2",
        *common,
    ]
    train_dit(build_parser().parse_args(args))
    from mimir.token_fuser import TokenFuser

    fuser = TokenFuser.from_pretrained(mimir / "token_fuser")
    assert fuser.config.fusion_type == "mimir"
    # the zero-convs have left zero: the LLM branch is being learned
    assert fuser.llm_proj.weight.abs().sum() > 0


def test_loss_log_means_each_interval(tmp_path):
    import torch

    from mimir.train.checkpoint import LossLog

    log = LossLog(tmp_path)
    for value in (1.0, 2.0, 6.0):
        log.add(torch.tensor(value))
    log.write(3, 6.0, 1e-4)
    log.add(torch.tensor(0.5))
    log.write(4, 0.5, 1e-4)
    with (tmp_path / "losses.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["step"], float(r["loss"]), float(r["loss_mean"])) for r in rows] == [("3", 6.0, 3.0), ("4", 0.5, 0.5)]


def test_weights_digest_follows_the_weights_not_the_path(tmp_path):
    from mimir.train.checkpoint import weights_digest

    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights one")
    first = weights_digest(tmp_path / "a")
    (tmp_path / "a" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights two")
    assert weights_digest(tmp_path / "a") != first
