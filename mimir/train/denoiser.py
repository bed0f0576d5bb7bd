"""What trains in the full-scale recipe: TokenFuser + DiT as one module, its v-prediction loss, and the DiT's LoRA.

One module because DDP, FSDP and DeepSpeed each wrap one model and synchronise what runs through its `forward`; the
fuser and the DiT are trained together (paper: T5 and the LLM frozen, the fuser and the DiT trained).
"""

from typing import Literal

import bitsandbytes as bnb
import torch
import torch.nn.functional as F
from diffusers import CogVideoXDDIMScheduler, CogVideoXTransformer3DModel
from peft import LoraConfig
from torch import nn

from mimir.token_fuser import TokenFuser


# The DiT's attention projections (diffusers' CogVideoX LoRA scripts adapt the same four).
LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")
# `--lora-base-storage`: the float8 dtypes diffusers' layerwise casting can store the frozen DiT in.
FP8_STORAGE = {"float8_e4m3fn": torch.float8_e4m3fn, "float8_e5m2": torch.float8_e5m2}
TEXT_KEYS = ("encoder_embeds", "encoder_mask", "llm_embeds", "llm_mask", "instruction_embeds")


class MimirDenoiser(nn.Module):
    """`fuser(text) -> condition (B, n + k, D)`, then `transformer(noisy latents, condition, t) -> v`."""

    def __init__(self, fuser: TokenFuser, transformer: CogVideoXTransformer3DModel):
        super().__init__()
        self.fuser, self.transformer = fuser, transformer

    def forward(
        self,
        noisy: torch.Tensor,
        timesteps: torch.Tensor,
        text: dict[str, torch.Tensor | None],
        rotary: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> torch.Tensor:
        """noisy: (B, F_lat, C, h, w); timesteps: (B,); text: the `TEXT_KEYS` of `TokenFuser.forward`.
        Returns the predicted velocity, (B, F_lat, C, h, w)."""
        cond, _ = self.fuser(*(text.get(key) for key in TEXT_KEYS))  # (B, n + k, D)
        dtype = next(self.transformer.parameters()).dtype
        return self.transformer(
            hidden_states=noisy.to(dtype),
            encoder_hidden_states=cond.to(dtype),
            timestep=timesteps,
            image_rotary_emb=rotary,
        ).sample  # (B, F_lat, C, h, w)


def v_prediction_loss(
    model: nn.Module,
    scheduler: CogVideoXDDIMScheduler,
    latents: torch.Tensor,
    text: dict[str, torch.Tensor | None],
    rotary: tuple[torch.Tensor, torch.Tensor] | None,
    generator: torch.Generator,
) -> torch.Tensor:
    """CogVideoX's objective: uniform timesteps, `x_t = add_noise(x0, eps, t)`, MSE to the velocity
    `v = sqrt(a_t) eps - sqrt(1 - a_t) x0` under the zero-terminal-SNR schedule. latents: x0, (B, F_lat, C, h, w)."""
    if scheduler.config.prediction_type != "v_prediction":
        raise ValueError(f"scheduler prediction_type={scheduler.config.prediction_type!r}: Mimir trains v-prediction")
    B = latents.shape[0]
    noise = torch.randn(latents.shape, device=latents.device, generator=generator)  # (B, F_lat, C, h, w)
    timesteps = torch.randint(
        0, scheduler.config.num_train_timesteps, (B,), device=latents.device, generator=generator
    )  # (B,)
    noisy = scheduler.add_noise(latents, noise, timesteps)  # (B, F_lat, C, h, w)
    target = scheduler.get_velocity(latents, noise, timesteps)
    pred = model(noisy, timesteps, text, rotary)
    return F.mse_loss(pred.float(), target.float())


def add_lora(transformer: CogVideoXTransformer3DModel, rank: int, alpha: float | None = None) -> None:
    """Freeze the DiT and give its attention projections LoRA adapters of `rank` (alpha defaults to the rank, so the
    adapter's scale is 1). peft's init makes the adapted DiT equal the base DiT at step 0."""
    if rank < 1:
        raise ValueError(f"lora_rank={rank} must be >= 1 (0 trains the whole DiT)")
    transformer.requires_grad_(False)
    config = LoraConfig(r=rank, lora_alpha=alpha or rank, init_lora_weights=True, target_modules=list(LORA_TARGETS))
    transformer.add_adapter(config)


def store_frozen_base_in(transformer: CogVideoXTransformer3DModel, storage: str) -> None:
    """After `add_lora`: keep the frozen DiT's layers in `storage` (a key of FP8_STORAGE) and cast each to the DiT's
    dtype only for its own forward (diffusers' layerwise casting), halving a bf16 DiT's resident bytes. The adapters
    keep their dtype: diffusers skips peft's layers by default (peft would otherwise give new adapters the base's
    dtype, so the order matters). The saving needs --gradient-checkpointing: without it autograd keeps every layer's
    upcast weight until the backward pass. Patch embedding and norms stay as they are (the model's own skip list)."""
    if storage not in FP8_STORAGE:
        raise ValueError(f"lora_base_storage={storage!r} must be one of {sorted(FP8_STORAGE)}")
    transformer.enable_layerwise_casting(storage_dtype=FP8_STORAGE[storage], compute_dtype=transformer.dtype)


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def build_optimizer(
    model: nn.Module, kind: Literal["adamw", "adamw8bit"], lr: float, fuser_lr: float, weight_decay: float
) -> torch.optim.Optimizer:
    """AdamW over the trainable parameters, the fuser at its own learning rate (its zero-convs start at zero);
    `adamw8bit` is bitsandbytes' 8-bit AdamW (moments in 8 bits: 2 instead of 8 bytes per parameter)."""
    groups = [
        {"params": [p for p in model.transformer.parameters() if p.requires_grad], "lr": lr},
        {"params": [p for p in model.fuser.parameters() if p.requires_grad], "lr": fuser_lr},
    ]
    groups = [g for g in groups if g["params"]]
    if kind == "adamw":
        return torch.optim.AdamW(groups, weight_decay=weight_decay)
    if kind == "adamw8bit":
        return bnb.optim.AdamW8bit(groups, weight_decay=weight_decay)
    raise ValueError(f"optimizer must be 'adamw' or 'adamw8bit', got {kind!r}")
