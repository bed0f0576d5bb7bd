"""The token fuser of Mimir (arXiv 2412.03085, Sec. 3.2, Fig. 3) and the fusion variants of its ablation (Table 3).

Inputs are the encoder tokens `e_t5` (B, n, D), the LLM tokens `h` (B, n, L, D_llm) from L hidden layers, already
aligned to the encoder's n positions, and the LLM's instruction tokens `h_i` (B, 4, L, D_llm) of the Semantic
Stabilizer. The L layers are first mixed into one (B, n, D_llm) tensor (`mix_llm_layers`; identity for L = 1). The
output is the condition of the video DiT:

    t5_only      e = e_t5                                                                      (B, n, D)  CogVideoX
    direct_add   e = e_t5 + alpha * P(h)                                                       (B, n, D)
    norm         e = e_t5 + alpha * P(scale * Norm(h))                                         (B, n, D)
    norm_ss      e = concat(e_t5 + alpha * P(scale * Norm(h)), e_s)                            (B, n + 4, D)
    zeroconv     e = e_t5 + Z_theta(e_t5) + alpha * Z_beta(h)                                  (B, n, D)
    zeroconv_ss  e = concat(e_t5 + Z_theta(e_t5) + alpha * Z_beta(h), e_s)                     (B, n + 4, D)
    mimir        e = concat(e_t5 + Z_theta(e_t5) + alpha * Z_beta(scale * Norm(h)), e_s)       (B, n + 4, D)

with `e_s = W_s(h_i') + e_l`: the projected instruction tokens plus four learnable tokens, where `h_i'` is
`scale * Norm(h_i)` in the variants with Norm & Scale (`norm_ss`, `mimir`) and `h_i` in `zeroconv_ss`. The LLM term
`P(.)` / `Z_beta(.)` is zero at padded LLM positions (`llm_mask` = 0), bias included. `P` and `W_s` are ordinary
linear layers in the variants without zero-conv and zero-initialised linear layers ("zero-conv") in those with it.
A 1x1 convolution over a token sequence is a linear map over the channel dimension, so the zero-convs are
`nn.Linear` layers whose weight and bias start at zero.
"""

from pathlib import Path
from typing import Literal

import torch
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.modeling_utils import ModelMixin
from torch import nn


FusionType = Literal["t5_only", "direct_add", "norm", "norm_ss", "zeroconv", "zeroconv_ss", "mimir"]
FUSION_TYPES: tuple[str, ...] = ("t5_only", "direct_add", "norm", "norm_ss", "zeroconv", "zeroconv_ss", "mimir")

# Which parts each variant switches on: (norm & scale, zero-conv, semantic stabilizer).
_PARTS: dict[str, tuple[bool, bool, bool]] = {
    "t5_only": (False, False, False),
    "direct_add": (False, False, False),
    "norm": (True, False, False),
    "norm_ss": (True, False, True),
    "zeroconv": (False, True, False),
    "zeroconv_ss": (False, True, True),
    "mimir": (True, True, True),
}


class TokenFuser(ModelMixin, ConfigMixin):
    """Fuses encoder tokens and decoder-only LLM tokens into one DiT condition (Mimir's token fuser).

    Args:
        fusion_type: which variant of the paper's Table 3 to build (see the module docstring).
        encoder_dim: D, channels of the encoder tokens (4096 for T5-XXL, 384 for MiniLM in the nano preset).
        llm_dim: D_llm, channels of the LLM's hidden states (3072 for Phi-3.5-mini, 576 for SmolLM2-135M).
        num_instruction_tokens: number of Semantic Stabilizer tokens (the paper uses four attribute prompts).
        alpha: weight of the LLM branch in `e = e_theta + alpha * e_beta`. Our choice (the paper gives no value): 1.0,
            so the learned zero-conv alone sets the branch's scale.
        norm_type: the "Norm" of Norm & Scale. Our choice: `"layer_norm"` without affine parameters (normalises each
            token over channels, which removes the LLM's few huge channels); `"rms_norm"` is the alternative.
        scale_init: initial value of the learnable scalar scale. Our choice: 0.25, which maps unit-variance normalised
            tokens to roughly [-0.5, 0.5], the range the paper reports for T5 tokens.
        learnable_tokens_init_std: std of the learnable stabilizer tokens `e_l` at init. Our choice: 0.0 in the
            zero-conv variants (a new branch must not disturb a pretrained DiT) is enforced by `zero_init`; this value
            is used by the variants without zero-conv.
        num_llm_layers: L, how many LLM hidden layers arrive (`LLMBranchConfig.hidden_layers`). Our choice, not the
            paper's (which takes the LLM's output): with L > 1 each layer is normalised (parameter-free LayerNorm over
            channels, so that no layer dominates by its scale) and the layers are mixed with learned softmax weights,
            initialised uniform. Middle layers of a small LLM carry more of a prompt's meaning than its last layer,
            which is shaped for next-token prediction (as HunyuanVideo takes `hidden_states[-3]`).
    """

    @register_to_config
    def __init__(
        self,
        fusion_type: FusionType = "mimir",
        encoder_dim: int = 4096,
        llm_dim: int = 3072,
        num_instruction_tokens: int = 4,
        alpha: float = 1.0,
        norm_type: Literal["layer_norm", "rms_norm"] = "layer_norm",
        scale_init: float = 0.25,
        learnable_tokens_init_std: float = 0.02,
        num_llm_layers: int = 1,
    ):
        super().__init__()
        if fusion_type not in _PARTS:
            raise ValueError(f"fusion_type must be one of {FUSION_TYPES}, got {fusion_type!r}")
        if norm_type not in ("layer_norm", "rms_norm"):
            raise ValueError(f"norm_type must be 'layer_norm' or 'rms_norm', got {norm_type!r}")
        if not isinstance(num_llm_layers, int) or num_llm_layers < 1:
            raise ValueError(f"num_llm_layers must be an integer >= 1, got {num_llm_layers!r}")
        use_norm, use_zeroconv, use_stabilizer = _PARTS[fusion_type]
        # t5_only has no weights; diffusers reads a module's device and dtype from its tensors, so keep one.
        self.register_buffer("_anchor", torch.zeros(0), persistent=False)

        if use_norm:
            # Norm & Scale (Sec. 3.2): a parameter-free norm, then one learnable scalar.
            self.llm_norm = (
                nn.LayerNorm(llm_dim, elementwise_affine=False)
                if norm_type == "layer_norm"
                else nn.RMSNorm(llm_dim, elementwise_affine=False)
            )
            # (1,), not a 0-d scalar: FSDP refuses 0-d parameters ("FSDP doesn't support scalar parameters"), seen
            # when fsdp_2gpu first ran on two H200s. Checkpoints saved with the 0-d shape load through the hooks below.
            self.llm_scale = nn.Parameter(torch.full((1,), float(scale_init)))
        if use_zeroconv:
            self.encoder_zero_conv = nn.Linear(encoder_dim, encoder_dim)  # Z_theta
        if fusion_type != "t5_only":
            self.llm_proj = nn.Linear(llm_dim, encoder_dim)  # Z_beta in zero-conv variants, P otherwise
            if num_llm_layers > 1:
                self.layer_logits = nn.Parameter(torch.zeros(num_llm_layers))  # softmax weights of the layer mix
        if use_stabilizer:
            self.instruction_proj = nn.Linear(llm_dim, encoder_dim)  # W_s
            self.learnable_tokens = nn.Parameter(torch.randn(num_instruction_tokens, encoder_dim))  # e_l
        self.initialize_weights()

    @property
    def uses_llm(self) -> bool:
        return self.config.fusion_type != "t5_only"

    @property
    def uses_stabilizer(self) -> bool:
        return _PARTS[self.config.fusion_type][2]

    def initialize_weights(self) -> None:
        """Zero-init every zero-conv (and the learnable tokens beside them) so that at init the fused tokens equal
        the encoder tokens: a pretrained CogVideoX sees exactly its own condition (paper Sec. 3.2, as ControlNet)."""
        use_norm, use_zeroconv, use_stabilizer = _PARTS[self.config.fusion_type]
        if use_zeroconv:
            for layer in (self.encoder_zero_conv, self.llm_proj):
                nn.init.zeros_(layer.weight)
                nn.init.zeros_(layer.bias)
        if use_stabilizer:
            if use_zeroconv:
                nn.init.zeros_(self.instruction_proj.weight)
                nn.init.zeros_(self.instruction_proj.bias)
                nn.init.zeros_(self.learnable_tokens)
            else:
                nn.init.normal_(self.learnable_tokens, std=self.config.learnable_tokens_init_std)

    def _fix_state_dict_keys_on_load(self, state_dict) -> None:
        # diffusers' hook for a changed architecture, called by `from_pretrained` before the shapes are checked
        super()._fix_state_dict_keys_on_load(state_dict)
        _scale_as_vector(state_dict, "")

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # torch's `load_state_dict`, as accelerate's `load_state` calls it when a run resumes
        _scale_as_vector(state_dict, prefix)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def mix_llm_layers(self, llm_embeds: torch.Tensor) -> torch.Tensor:
        """(B, m, L, D_llm) -> (B, m, D_llm): the one layer, or the softmax-weighted sum of the normalised layers."""
        L = self.config.num_llm_layers
        if llm_embeds.dim() != 4 or llm_embeds.shape[2] != L:
            raise ValueError(f"LLM tokens must be (B, m, L={L}, D_llm), got {tuple(llm_embeds.shape)}")
        if L == 1:
            return llm_embeds[:, :, 0]
        normed = nn.functional.layer_norm(llm_embeds, llm_embeds.shape[-1:])  # (B, m, L, D_llm)
        weights = self.layer_logits.softmax(dim=0).to(normed.dtype)  # (L,)
        return torch.einsum("bmld,l->bmd", normed, weights)  # (B, m, D_llm)

    def normalize_llm(self, llm_embeds: torch.Tensor) -> torch.Tensor:
        """Norm & Scale of the LLM tokens, `scale * Norm(h)`; identity for the variants without it. (B, m, D_llm)"""
        if not _PARTS[self.config.fusion_type][0]:
            return llm_embeds
        return self.llm_scale * self.llm_norm(llm_embeds)

    def forward(
        self,
        encoder_embeds: torch.Tensor,
        encoder_mask: torch.Tensor,
        llm_embeds: torch.Tensor | None = None,
        llm_mask: torch.Tensor | None = None,
        instruction_embeds: torch.Tensor | None = None,
        llm_branch: Literal["on", "off"] = "on",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Fuse the two branches.

        Args:
            encoder_embeds: `e_t5`, (B, n, D).
            encoder_mask: (B, n), 1 for real tokens.
            llm_embeds: `h`, (B, n, L, D_llm), aligned to the n encoder positions (zeros where `llm_mask` is 0).
            llm_mask: (B, n).
            instruction_embeds: `h_i`, (B, 4, L, D_llm), one token per stabilizer instruction.
            llm_branch: `"off"` zeroes the LLM branch's contribution, `e_beta` and the stabilizer tokens `e_s`, while
                keeping the condition's length: an inference-time probe of how much a trained model relies on it.

        Returns:
            `(embeds, mask)`: (B, n + k, D) and (B, n + k) with k = 4 for the stabilizer variants, else 0.
        """
        if not self.uses_llm:
            return encoder_embeds, encoder_mask
        if llm_embeds is None or llm_mask is None:
            raise ValueError(f"fusion_type={self.config.fusion_type!r} needs llm_embeds and llm_mask")
        B, n, D = encoder_embeds.shape
        if llm_embeds.shape[:2] != (B, n):
            raise ValueError(
                f"llm_embeds must be aligned to the encoder's (B, n) = {(B, n)}, got {tuple(llm_embeds.shape)}"
            )
        if llm_branch not in ("on", "off"):
            raise ValueError(f"llm_branch must be 'on' or 'off', got {llm_branch!r}")
        dtype = self.llm_proj.weight.dtype
        use_norm, use_zeroconv, _ = _PARTS[self.config.fusion_type]
        keep = 1.0 if llm_branch == "on" else 0.0

        h = self.normalize_llm(self.mix_llm_layers(llm_embeds.to(dtype)))  # (B, n, D_llm)
        # Padded LLM positions stay out of the sum: the projection's bias would otherwise write into them.
        e_beta = keep * self.llm_proj(h) * llm_mask.to(dtype).unsqueeze(-1)  # (B, n, D)
        e_t5 = encoder_embeds.to(dtype)
        e_theta = e_t5 + self.encoder_zero_conv(e_t5) if use_zeroconv else e_t5  # (B, n, D)
        embeds = e_theta + self.config.alpha * e_beta  # (B, n, D)
        mask = encoder_mask

        if self.uses_stabilizer:
            if instruction_embeds is None:
                raise ValueError(f"fusion_type={self.config.fusion_type!r} needs instruction_embeds (B, 4, L, D_llm)")
            k = self.config.num_instruction_tokens
            if instruction_embeds.shape[1] != k:
                raise ValueError(f"instruction_embeds must hold {k} tokens, got {tuple(instruction_embeds.shape)}")
            h_i = self.normalize_llm(self.mix_llm_layers(instruction_embeds.to(dtype)))  # (B, 4, D_llm)
            e_s = keep * (self.instruction_proj(h_i) + self.learnable_tokens.unsqueeze(0))  # (B, 4, D)
            embeds = torch.cat([embeds, e_s], dim=1)  # (B, n + 4, D)
            mask = torch.cat([mask, mask.new_ones(B, k)], dim=1)  # (B, n + 4)
        return embeds, mask


def _scale_as_vector(state_dict, prefix: str) -> None:
    """A checkpoint's 0-d `llm_scale` (saved before it became (1,)) as (1,), in place; the value is unchanged."""
    key = prefix + "llm_scale"
    if key in state_dict and state_dict[key].dim() == 0:
        state_dict[key] = state_dict[key].reshape(1)


def load_token_fuser(path, **kwargs) -> TokenFuser:
    """`TokenFuser.from_pretrained`, also for `t5_only`, which has no weights and so saves a config alone."""
    path = Path(path)
    if not any(path.glob("*.safetensors")) and not any(path.glob("*.bin")):
        config = TokenFuser.load_config(path)
        if config.get("fusion_type") != "t5_only":
            raise ValueError(f"{str(path)!r} holds no weights for fusion_type={config.get('fusion_type')!r}")
        return TokenFuser.from_config(config)
    return TokenFuser.from_pretrained(path, **kwargs)
