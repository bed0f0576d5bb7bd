"""Two training processes on the CPU (gloo): the gradients each process steps with are the average over processes.

DDP averages gradients only for what runs through the prepared module's `forward`; a step that calls the unwrapped
model (`accelerator.unwrap_model(vae).encode(...)`) trains each process on its own gradients, and the copies drift.
"""

import os
import socket

import pytest
import torch
import torch.multiprocessing as mp
from diffusers import AutoencoderKLCogVideoX

import mimir.train.vae as vae_stage
from mimir.train import parse_args
from mimir.train.finetune import train_on_videos

from .test_train_videos import args_for, components, make_text_parts, moving_square, write_video
from .tiny import tiny_vae_config


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _join_gloo(rank: int, world: int, port: int) -> None:
    # What `accelerate launch --cpu --num_processes 2` sets: accelerate then runs DDP over gloo.
    os.environ.update(
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
        RANK=str(rank),
        WORLD_SIZE=str(world),
        LOCAL_RANK=str(rank),
        ACCELERATE_USE_CPU="1",
    )
    torch.set_num_threads(1)


def _vae_worker(rank: int, world: int, port: int, run: str, out: str) -> None:
    _join_gloo(rank, world, port)
    vae_stage.nano_vae_config = tiny_vae_config
    vae_stage.colour_fidelity = lambda *args, **kwargs: 0.0  # the end-of-run report, not under test
    grads = {}
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        # The gradients the optimizer is about to apply, after backward (and DDP's all-reduce, if any).
        grads.update({str(i): p.grad.detach().clone() for i, p in enumerate(self.param_groups[0]["params"])})
        return step(self, *args, **kwargs)

    torch.optim.AdamW.step = recording_step
    argv = ["vae", "--output-dir", run, "--max-train-steps", "1", "--pool-size", "4", "--train-batch-size", "1"]
    argv += ["--height", "16", "--width", "16", "--log-every", "1", "--checkpoint-every", "100"]
    vae_stage.train_vae(parse_args(argv))
    torch.save(grads, f"{out}/grads{rank}.pt")


def test_vae_stage_averages_gradients_over_two_processes(tmp_path):
    mp.spawn(_vae_worker, args=(2, _free_port(), str(tmp_path / "run"), str(tmp_path)), nprocs=2, join=True)
    g0, g1 = torch.load(tmp_path / "grads0.pt"), torch.load(tmp_path / "grads1.pt")
    n_params = len(list(AutoencoderKLCogVideoX(**tiny_vae_config()).parameters()))
    assert len(g0) == len(g1) == n_params
    # Each process rendered other videos (its own data stream), so unsynchronised gradients would differ everywhere.
    differing = [k for k in g0 if not torch.allclose(g0[k], g1[k], rtol=1e-5, atol=1e-7)]
    assert differing == [], f"{len(differing)} of {len(g0)} gradients differ between the two processes"
    assert any(g.abs().sum() > 0 for g in g0.values())


def _mimir_worker(rank: int, world: int, port: int, data: str, run: str, out: str, *extra: str) -> None:
    _join_gloo(rank, world, port)
    grads = {}
    step = torch.optim.AdamW.step

    def recording_step(self, *args, **kwargs):
        for g, group in enumerate(self.param_groups):
            grads.update({f"{g}.{i}": p.grad.detach().clone() for i, p in enumerate(group["params"])})
            # DDP's gradient_as_bucket_view: each gradient is a view into a bucket, not a copy of its own
            views.extend(p.grad._base is not None for p in group["params"])
        return step(self, *args, **kwargs)

    views: list[bool] = []
    torch.optim.AdamW.step = recording_step
    train_on_videos(args_for(data, run, 1, *extra), components(make_text_parts()))
    torch.save({"grads": grads, "views": views}, f"{out}/grads{rank}.pt")


@pytest.mark.slow
def test_mimir_trainer_averages_fuser_and_dit_gradients_over_two_processes(tmp_path):
    """`train dit --data` under DDP: TokenFuser + DiT run through the prepared module, so both are synchronised."""
    data = tmp_path / "videos"
    data.mkdir()
    for i in range(4):
        write_video(data / f"clip{i}.mp4", moving_square(i))
        (data / f"clip{i}.txt").write_text(f"a square moving right, number {i}")
    args = (2, _free_port(), str(data), str(tmp_path / "run"), str(tmp_path))
    mp.spawn(_mimir_worker, args=args, nprocs=2, join=True)
    r0, r1 = torch.load(tmp_path / "grads0.pt"), torch.load(tmp_path / "grads1.pt")
    assert r0["views"] and all(r0["views"]) and all(r1["views"])  # no second copy of the gradients
    g0, g1 = r0["grads"], r1["grads"]
    assert g0.keys() == g1.keys() and {k.split(".")[0] for k in g0} == {"0", "1"}  # the DiT's group and the fuser's
    differing = [k for k in g0 if not torch.allclose(g0[k], g1[k], rtol=1e-5, atol=1e-7)]
    assert differing == [], f"{len(differing)} of {len(g0)} gradients differ between the two processes"
    assert any(g.abs().sum() > 0 for k, g in g0.items() if k.startswith("1."))  # the fuser's zero-convs get gradient


@pytest.mark.slow
def test_lora_on_a_float8_base_under_ddp_averages_the_adapters_gradients(tmp_path):
    """DDP broadcasts every parameter when it wraps the model, which gloo cannot do for float8: the base is cast after
    the wrap. The adapters' and the fuser's gradients are still averaged."""
    data = tmp_path / "videos"
    data.mkdir()
    for i in range(4):
        write_video(data / f"clip{i}.mp4", moving_square(i))
        (data / f"clip{i}.txt").write_text(f"a square moving right, number {i}")
    extra = ("--lora-rank", "2", "--lora-base-storage", "float8_e4m3fn", "--gradient-checkpointing")
    mp.spawn(_mimir_worker, args=(2, _free_port(), str(data), str(tmp_path / "run"), str(tmp_path), *extra), nprocs=2)
    r0, r1 = torch.load(tmp_path / "grads0.pt"), torch.load(tmp_path / "grads1.pt")
    g0, g1 = r0["grads"], r1["grads"]
    assert g0 and g0.keys() == g1.keys()
    assert all(torch.allclose(g0[k], g1[k], rtol=1e-5, atol=1e-7) for k in g0)
    assert all(g.dtype != torch.float8_e4m3fn for g in g0.values())  # only the adapters and the fuser train
