"""Training on the CPU: the RoPE tables and the trainer state (fast), and a smoke test in which each stage runs, logs,
checkpoints and resumes from its checkpoint (slow: the real MiniLM and SmolLM2 encode the captions)."""

import csv
import json
import random
import tarfile

import pytest
import torch
from accelerate import Accelerator
from diffusers import CogVideoXPipeline, CogVideoXTransformer3DModel

from mimir.presets import nano_transformer_config
from mimir.token_fuser import TokenFuser
from mimir.train import cli_main, parse_args
from mimir.train.checkpoint import LossLog, TrainingState, weights_digest
from mimir.train.diffusion import rotary_embeddings, train_dit
from mimir.train.vae import colour_fidelity, object_weights, train_vae
from mimir.world.render import render
from mimir.world.sampler import sample_spec


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


@pytest.fixture
def distinct_fidelity_videos(monkeypatch):
    """The VAE stage ends by measuring colour fidelity on 256 pool draws; from this test's pool of 8 that decodes each
    video about 32 times (66 s of the test's 150 s on 2 cores). Here each drawn video is measured once."""

    def once_each(vae, pool, index, *rest):
        return colour_fidelity(vae, pool, sorted(set(index)), *rest)

    monkeypatch.setattr("mimir.train.vae.colour_fidelity", once_each)


def steps_logged(run) -> list[int]:
    with (run / "losses.csv").open() as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def test_object_weights_mark_object_pixels():
    spec = sample_spec(random.Random(0), dimension="color")
    video = render([spec], [0]).permute(0, 4, 1, 2, 3) * 2 - 1  # (1, 3, F, H, W)
    w = object_weights(video, 10.0)
    share = (w > 1).float().mean().item()
    assert 0.01 < share < 0.3  # objects are a few percent of the pixels, never none, never all
    assert w[..., 0, 0].eq(1).all()


@pytest.mark.parametrize("height,width,latent_frames", [(64, 64, 3), (32, 32, 3), (64, 128, 5)])
def test_rotary_tables_equal_the_pipelines(height, width, latent_frames):
    """Training's RoPE tables are the ones `CogVideoXPipeline` builds at generation, at the training size (64x64),
    the smoke test's (32x32) and a grid that the pipeline crops into the DiT's training grid (64x128)."""
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(**{**nano_transformer_config(), "num_layers": 1})
    pipe = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=None, transformer=transformer, scheduler=None)
    assert pipe.vae_scale_factor_spatial == 8  # the nano VAE's
    expected = pipe._prepare_rotary_positional_embeddings(height, width, latent_frames, torch.device("cpu"))
    ours = rotary_embeddings(transformer, 8, height, width, latent_frames, "cpu")
    tokens = latent_frames * (height // 8) * (width // 8)
    for table, reference in zip(ours, expected, strict=True):
        assert table.shape == (tokens, transformer.config.attention_head_dim)
        torch.testing.assert_close(table, reference, rtol=0, atol=0)


def _trainer(run, seed: int):
    """A tiny fuser with AdamW, an LR warmup and a `TrainingState`, as `train_dit` sets them up."""
    torch.manual_seed(seed)
    fuser = TokenFuser(fusion_type="zeroconv", encoder_dim=8, llm_dim=12)
    optimizer = torch.optim.AdamW(fuser.parameters(), lr=1e-2)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 10))
    accelerator = Accelerator()
    fuser, optimizer = accelerator.prepare(fuser, optimizer)
    return fuser, optimizer, warmup, TrainingState(accelerator, run, warmup)


def test_trainer_state_restores_optimizer_scheduler_rng_and_step(tmp_path):
    fuser, optimizer, warmup, state = _trainer(tmp_path, seed=0)
    assert state.resume() == 0
    for _ in range(3):
        loss = sum(((p - 1.0) ** 2).sum() for p in fuser.parameters())  # moves every weight, zero-inits included
        loss.backward()
        optimizer.step()
        warmup.step()
        optimizer.zero_grad()
    state.save(3, {"token_fuser": fuser})
    next_draw = torch.rand(4)  # the RNG state was saved just before this draw
    assert (tmp_path / "token_fuser" / "config.json").exists() and (tmp_path / "trainer_state").is_dir()

    fuser2, optimizer2, warmup2, state2 = _trainer(tmp_path, seed=1)  # a fresh trainer, other weights, no moments
    assert not optimizer2.state_dict()["state"]
    assert state2.resume() == 3
    saved, restored = optimizer.state_dict(), optimizer2.state_dict()
    assert saved["state"].keys() == restored["state"].keys() and len(saved["state"]) == len(list(fuser.parameters()))
    for i, moments in saved["state"].items():
        assert moments["exp_avg"].abs().sum() > 0
        for key in ("step", "exp_avg", "exp_avg_sq"):
            torch.testing.assert_close(restored["state"][i][key], moments[key], rtol=0, atol=0)
    for a, b in zip(fuser.parameters(), fuser2.parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert warmup2.last_epoch == warmup.last_epoch == 3 and warmup2.get_last_lr() == warmup.get_last_lr()
    torch.testing.assert_close(torch.rand(4), next_draw, rtol=0, atol=0)


def test_a_run_of_the_old_layout_is_refused(tmp_path):
    (tmp_path / "trainer_state.pt").write_bytes(b"")
    with pytest.raises(ValueError, match="older checkpoint layout"):
        _trainer(tmp_path, seed=0)[3].resume()


def test_export_packs_the_weights_and_logs_not_the_trainer_state(tmp_path):
    run = tmp_path / "run"
    fuser, _, _, state = _trainer(run, seed=0)
    state.save(1, {"token_fuser": fuser})
    LossLog(run)  # the header row
    assert cli_main(["export", "--run", str(run), "--out", str(tmp_path / "run.tar"), "--fp16"]) == 0
    with tarfile.open(tmp_path / "run.tar") as tar:
        names = tar.getnames()
        config = json.load(tar.extractfile("token_fuser/config.json"))
    assert {"token_fuser/config.json", "token_fuser/diffusion_pytorch_model.safetensors", "losses.csv"} <= set(names)
    assert "_name_or_path" not in config and config["fusion_type"] == "zeroconv"  # no path of the training machine
    assert not [n for n in names if n.startswith("trainer_state")]
    assert TokenFuser.from_pretrained(run / "token_fuser").dtype == torch.float32  # the run keeps full precision


@pytest.mark.usefixtures("distinct_fidelity_videos")
@pytest.mark.slow
def test_vae_then_dit_then_mimir_finetune_with_resume(tmp_path):
    vae_run = tmp_path / "vae"
    train_vae(parse_args(["vae", "--output-dir", str(vae_run), "--max-train-steps", "2", *SMALL]))
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
    train_dit(parse_args(["dit", "--output-dir", str(base), "--max-train-steps", "2", *common]))
    first = CogVideoXTransformer3DModel.from_pretrained(base / "transformer")
    # resuming continues from step 2 to step 4 with the optimizer state, not from scratch
    train_dit(parse_args(["dit", "--output-dir", str(base), "--max-train-steps", "4", *common]))
    assert steps_logged(base) == [1, 2, 3, 4]
    assert json.loads((base / "environment.json").read_text())["packages"]["diffusers"] is not None
    # the pool latents are cached under the VAE's weights digest: a retrained VAE cannot pick up stale latents
    cached = list((tmp_path / "cache").glob("latents_*.pt"))
    assert [c.name.endswith(f"_vae{weights_digest(vae_run / 'vae')}.pt") for c in cached] == [True]
    resumed = CogVideoXTransformer3DModel.from_pretrained(base / "transformer")
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), resumed.parameters()))
    # past --time-limit-minutes a run takes its step, checkpoints and stops; the step is in the trainer state
    time_limited = ["dit", "--output-dir", str(base), "--max-train-steps", "10", "--time-limit-minutes", "0", *common]
    train_dit(parse_args(time_limited))
    assert steps_logged(base) == [1, 2, 3, 4, 5]
    assert torch.load(base / "trainer_state" / "custom_checkpoint_0.pkl", weights_only=False) == {"step": 5}

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
    train_dit(parse_args(args))
    fuser = TokenFuser.from_pretrained(mimir / "token_fuser")
    assert fuser.config.fusion_type == "mimir"
    # the zero-convs have left zero: the LLM branch is being learned
    assert fuser.llm_proj.weight.abs().sum() > 0


def test_loss_log_means_each_interval(tmp_path):
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
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights one")
    first = weights_digest(tmp_path / "a")
    (tmp_path / "a" / "diffusion_pytorch_model.safetensors").write_bytes(b"weights two")
    assert weights_digest(tmp_path / "a") != first
