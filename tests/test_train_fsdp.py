"""The trained model (TokenFuser + DiT) under FSDP, in two CPU processes over gloo, with the wrapping that
configs/accelerate/fsdp_2gpu.yaml asks accelerate for: full sharding, one CogVideoXBlock per unit, original parameters.

accelerate's FSDP plugin needs a GPU, so the trainer's own `accelerate launch` path only runs on the GPU machine; this
test wraps the same module with torch's FSDP directly. It caught the fuser's 0-d `llm_scale`, which FSDP refuses
("FSDP doesn't support scalar parameters"), before a GPU did.
"""

import functools
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from diffusers.models.transformers.cogvideox_transformer_3d import CogVideoXBlock
from torch.distributed.fsdp import FullStateDictConfig, ShardingStrategy, StateDictType
from torch.distributed.fsdp import FullyShardedDataParallel as FSDP
from torch.distributed.fsdp.wrap import transformer_auto_wrap_policy

from mimir.token_fuser import TokenFuser
from mimir.train.denoiser import MimirDenoiser

from .tiny import ENCODER_DIM, LLM_DIM, SEQ, tiny_video_models


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _model() -> MimirDenoiser:
    transformer, _, _ = tiny_video_models(num_layers=2)
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM)
    with torch.no_grad():  # the zero-convs away from zero, so that every fuser parameter gets a gradient
        for p in fuser.parameters():
            p.add_(torch.randn(p.shape) * 0.1)
    return MimirDenoiser(fuser, transformer.requires_grad_(True)).train()


def _batch(rank: int):
    g = torch.Generator().manual_seed(100 + rank)  # each process its own batch, as under a distributed sampler
    text = {
        "encoder_embeds": torch.randn(1, SEQ, ENCODER_DIM, generator=g),
        "encoder_mask": torch.ones(1, SEQ, dtype=torch.long),
        "llm_embeds": torch.randn(1, SEQ, 1, LLM_DIM, generator=g),
        "llm_mask": torch.ones(1, SEQ, dtype=torch.long),
        "instruction_embeds": torch.randn(1, 4, 1, LLM_DIM, generator=g),
    }
    noisy = torch.randn(1, 3, 4, 2, 2, generator=g)  # (B, F_lat, C, h, w)
    return noisy, torch.tensor([500]), text


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        model = FSDP(
            _model(),
            sharding_strategy=ShardingStrategy.FULL_SHARD,
            auto_wrap_policy=functools.partial(transformer_auto_wrap_policy, transformer_layer_cls={CogVideoXBlock}),
            use_orig_params=True,  # the config's sync_module_states needs CUDA tensors; both ranks seed alike here
            device_id=torch.device("cpu"),
        )
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
        noisy, timesteps, text = _batch(rank)
        model(noisy, timesteps, text, None).square().mean().backward()
        optimizer.step()
        full = FullStateDictConfig(offload_to_cpu=False, rank0_only=True)  # True crashes on CPU (SIGSEGV in torch)
        with FSDP.state_dict_type(model, StateDictType.FULL_STATE_DICT, full):
            state = model.state_dict()
        if rank == 0:
            torch.save(state, f"{out}/state.pt")
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_fuser_and_dit_train_under_full_sharding_and_gather_to_a_loadable_state(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    state = torch.load(tmp_path / "state.pt")
    before = _model().state_dict()
    fuser_state = {k.removeprefix("fuser."): v for k, v in state.items() if k.startswith("fuser.")}
    assert state.keys() == before.keys() and fuser_state["llm_scale"].shape == (1,)
    # one AdamW step at lr 1e-2 moved every trained tensor, the fuser's scale among them
    unchanged = [k for k in before if torch.equal(before[k], state[k])]
    assert unchanged == [], f"not trained under FSDP: {unchanged}"
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM)
    fuser.load_state_dict(fuser_state)  # the gathered state is the weights folder's fuser
    assert torch.equal(fuser.llm_scale, fuser_state["llm_scale"])
