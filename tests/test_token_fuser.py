"""TokenFuser: shapes and masks of every fusion_type, identity at init, save/load."""

import pytest
import torch

from mimir.token_fuser import FUSION_TYPES, TokenFuser


B, n, D, D_LLM = 2, 7, 16, 24


def inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    e_t5 = torch.randn(B, n, D, generator=g) * 0.3
    enc_mask = torch.ones(B, n, dtype=torch.long)
    enc_mask[1, 5:] = 0
    # LLM features are large and wide-ranged (the paper's motivation for Norm & Scale)
    h = torch.randn(B, n, D_LLM, generator=g) * 8.0
    llm_mask = torch.ones(B, n, dtype=torch.long)
    llm_mask[0, 4:] = 0
    h = h * llm_mask.unsqueeze(-1)
    h_i = torch.randn(B, 4, D_LLM, generator=g) * 8.0
    return e_t5, enc_mask, h, llm_mask, h_i


@pytest.mark.parametrize("fusion_type", FUSION_TYPES)
def test_shapes_and_masks(fusion_type):
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type=fusion_type, encoder_dim=D, llm_dim=D_LLM)
    e_t5, enc_mask, h, llm_mask, h_i = inputs()
    out, mask = fuser(e_t5, enc_mask, h, llm_mask, h_i)
    k = 4 if fusion_type in ("norm_ss", "zeroconv_ss", "mimir") else 0
    assert out.shape == (B, n + k, D)
    assert mask.shape == (B, n + k)
    assert torch.equal(mask[:, :n], enc_mask)  # the encoder's mask travels with the fused tokens
    assert mask[:, n:].eq(1).all()
    assert fuser.num_extra_tokens == k


@pytest.mark.parametrize("fusion_type", ["zeroconv", "zeroconv_ss", "mimir"])
def test_identity_at_init(fusion_type):
    """At init the first n fused tokens are exactly the encoder tokens: a pretrained CogVideoX is unharmed."""
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type=fusion_type, encoder_dim=D, llm_dim=D_LLM)
    e_t5, enc_mask, h, llm_mask, h_i = inputs()
    out, _ = fuser(e_t5, enc_mask, h, llm_mask, h_i)
    assert torch.equal(out[:, :n], e_t5)


@pytest.mark.parametrize("fusion_type", ["direct_add", "norm", "norm_ss"])
def test_variants_without_zeroconv_change_the_condition_at_init(fusion_type):
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type=fusion_type, encoder_dim=D, llm_dim=D_LLM)
    e_t5, enc_mask, h, llm_mask, h_i = inputs()
    out, _ = fuser(e_t5, enc_mask, h, llm_mask, h_i)
    assert not torch.allclose(out[:, :n], e_t5)


def test_llm_branch_acts_once_trained_and_ignores_padding():
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=D, llm_dim=D_LLM)
    with torch.no_grad():
        torch.nn.init.normal_(fuser.llm_proj.weight, std=0.1)
        torch.nn.init.normal_(fuser.llm_proj.bias, std=0.1)
    e_t5, enc_mask, h, llm_mask, h_i = inputs()
    out, _ = fuser(e_t5, enc_mask, h, llm_mask, h_i)
    changed = (out[:, :n] - e_t5).abs().amax(dim=-1)  # (B, n)
    assert (changed[llm_mask.bool()] > 0).all()
    assert torch.equal(out[0, 4:n], e_t5[0, 4:n])  # padded LLM positions add nothing, bias included


def test_norm_and_scale_brings_llm_tokens_into_encoder_range():
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=D, llm_dim=D_LLM, scale_init=0.25)
    _, _, h, llm_mask, _ = inputs()
    normed = fuser.normalize_llm(h)[llm_mask.bool()]
    assert h.abs().max() > 5.0
    assert normed.std(dim=-1).sub(0.25).abs().max() < 0.02
    assert normed.abs().max() < 1.5


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=D, llm_dim=D_LLM, alpha=0.5, norm_type="rms_norm")
    with torch.no_grad():
        for p in fuser.parameters():
            p.normal_()
    fuser.save_pretrained(tmp_path / "fuser")
    loaded = TokenFuser.from_pretrained(tmp_path / "fuser")
    assert loaded.config.alpha == 0.5 and loaded.config.norm_type == "rms_norm"
    args = inputs()
    assert torch.equal(fuser(*args)[0], loaded(*args)[0])


@pytest.mark.parametrize("bad", [{"fusion_type": "concat"}, {"norm_type": "batch_norm"}])
def test_bad_config(bad):
    with pytest.raises(ValueError, match=repr(next(iter(bad.values())))):
        TokenFuser(encoder_dim=D, llm_dim=D_LLM, **bad)


def test_missing_llm_inputs_named():
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=D, llm_dim=D_LLM)
    e_t5, enc_mask, h, llm_mask, _ = inputs()
    with pytest.raises(ValueError, match="instruction_embeds"):
        fuser(e_t5, enc_mask, h, llm_mask, None)
    with pytest.raises(ValueError, match="llm_embeds"):
        fuser(e_t5, enc_mask)
