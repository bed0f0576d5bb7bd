"""TokenFuser: every fusion_type against the module docstring's equations, the layer mix, the LLM-branch switch,
shapes and masks, identity at init, save/load."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from mimir import token_fuser
from mimir.token_fuser import FUSION_TYPES, TokenFuser


B, n, L, D, D_LLM = 2, 7, 1, 16, 24


def inputs(seed: int = 0, layers: int = L):
    g = torch.Generator().manual_seed(seed)
    e_t5 = torch.randn(B, n, D, generator=g) * 0.3
    enc_mask = torch.ones(B, n, dtype=torch.long)
    enc_mask[1, 5:] = 0
    # LLM features are large and wide-ranged (the paper's motivation for Norm & Scale)
    h = torch.randn(B, n, layers, D_LLM, generator=g) * 8.0
    llm_mask = torch.ones(B, n, dtype=torch.long)
    llm_mask[0, 4:] = 0
    h = h * llm_mask.view(B, n, 1, 1)
    h_i = torch.randn(B, 4, layers, D_LLM, generator=g) * 8.0
    return e_t5, enc_mask, h, llm_mask, h_i


def randomized(fuser: TokenFuser, seed: int = 1) -> TokenFuser:
    """Every parameter drawn at random, so that zero-initialised parts cannot hide a wrong equation."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in fuser.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.2)
    return fuser


# The module docstring's seven equations, as it writes them; `test_the_docstring_states_these_equations` holds the
# docstring to this text, and `expected` below computes each line by hand.
EQUATIONS = {
    "t5_only": "e = e_t5",
    "direct_add": "e = e_t5 + alpha * P(h)",
    "norm": "e = e_t5 + alpha * P(scale * Norm(h))",
    "norm_ss": "e = concat(e_t5 + alpha * P(scale * Norm(h)), e_s)",
    "zeroconv": "e = e_t5 + Z_theta(e_t5) + alpha * Z_beta(h)",
    "zeroconv_ss": "e = concat(e_t5 + Z_theta(e_t5) + alpha * Z_beta(h), e_s)",
    "mimir": "e = concat(e_t5 + Z_theta(e_t5) + alpha * Z_beta(scale * Norm(h)), e_s)",
}


def expected(fuser: TokenFuser, e_t5, h, llm_mask, h_i) -> torch.Tensor:
    """Each line of EQUATIONS written out by hand with the fuser's parameters (L = 1: h is h[:, :, 0])."""
    alpha = fuser.config.alpha
    h, h_i = h[:, :, 0], h_i[:, :, 0]  # (B, n, D_llm), (B, 4, D_llm)
    M = llm_mask.unsqueeze(-1).float()  # (B, n, 1): padded LLM positions add nothing, bias included

    def linear(layer, x):
        return x @ layer.weight.T + layer.bias

    def scale_norm(x):  # scale * Norm(x), Norm a LayerNorm without affine parameters
        return fuser.llm_scale * F.layer_norm(x, x.shape[-1:])

    def P(x):  # also Z_beta: the same layer, zero-initialised in the zero-conv variants
        return linear(fuser.llm_proj, x) * M

    def Z_theta(x):
        return linear(fuser.encoder_zero_conv, x)

    def e_s(h_i_prime):  # W_s(h_i') + e_l
        return linear(fuser.instruction_proj, h_i_prime) + fuser.learnable_tokens

    def concat(e, s):
        return torch.cat([e, s], dim=1)

    t = fuser.config.fusion_type
    if t == "t5_only":
        return e_t5
    if t == "direct_add":
        return e_t5 + alpha * P(h)
    if t == "norm":
        return e_t5 + alpha * P(scale_norm(h))
    if t == "norm_ss":
        return concat(e_t5 + alpha * P(scale_norm(h)), e_s(scale_norm(h_i)))
    if t == "zeroconv":
        return e_t5 + Z_theta(e_t5) + alpha * P(h)
    if t == "zeroconv_ss":
        return concat(e_t5 + Z_theta(e_t5) + alpha * P(h), e_s(h_i))
    if t == "mimir":
        return concat(e_t5 + Z_theta(e_t5) + alpha * P(scale_norm(h)), e_s(scale_norm(h_i)))
    raise AssertionError(f"no equation written for fusion_type={t!r}")


def test_the_docstring_states_these_equations():
    assert set(EQUATIONS) == set(FUSION_TYPES)
    lines = [line.split() for line in token_fuser.__doc__.splitlines()]
    documented = {words[0]: " ".join(words[1:]) for words in lines if words and words[0] in FUSION_TYPES}
    for fusion_type, equation in EQUATIONS.items():
        assert documented[fusion_type].startswith(equation + " "), (fusion_type, documented[fusion_type])


@pytest.mark.parametrize("fusion_type", FUSION_TYPES)
def test_each_fusion_type_computes_its_equation(fusion_type):
    # alpha != 1 and every parameter random: a dropped alpha, scale or zero-initialised part would show
    fuser = randomized(TokenFuser(fusion_type=fusion_type, encoder_dim=D, llm_dim=D_LLM, alpha=0.7))
    e_t5, enc_mask, h, llm_mask, h_i = inputs()
    out, _ = fuser(e_t5, enc_mask, h, llm_mask, h_i)
    want = expected(fuser, e_t5, h, llm_mask, h_i)
    assert out.shape == want.shape
    torch.testing.assert_close(out, want, rtol=1e-5, atol=1e-5)


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


def test_layer_mix_is_a_softmax_over_normalised_layers():
    fuser = randomized(TokenFuser(fusion_type="mimir", encoder_dim=D, llm_dim=D_LLM, num_llm_layers=3))
    _, _, h, _, _ = inputs(layers=3)
    h = h * torch.tensor([1.0, 50.0, 0.01]).view(1, 1, 3, 1)  # layers of very different scales
    w = fuser.layer_logits.softmax(0)
    want = sum(w[i] * F.layer_norm(h[:, :, i], (D_LLM,)) for i in range(3))
    torch.testing.assert_close(fuser.mix_llm_layers(h), want)
    # the weights are learned: a loss on the mix reaches the logits
    fuser.mix_llm_layers(h).sum().backward()
    assert fuser.layer_logits.grad is not None and fuser.layer_logits.grad.abs().sum() > 0


def test_one_layer_is_passed_through_unnormalised():
    fuser = TokenFuser(fusion_type="zeroconv", encoder_dim=D, llm_dim=D_LLM)
    _, _, h, _, _ = inputs()
    assert torch.equal(fuser.mix_llm_layers(h), h[:, :, 0])
    assert not hasattr(fuser, "layer_logits")


def test_wrong_number_of_layers_is_named():
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=D, llm_dim=D_LLM, num_llm_layers=3)
    e_t5, enc_mask, h, llm_mask, h_i = inputs(layers=2)
    with pytest.raises(ValueError, match=r"L=3.*\(2, 7, 2, 24\)"):
        fuser(e_t5, enc_mask, h, llm_mask, h_i)
    with pytest.raises(ValueError, match="num_llm_layers"):
        TokenFuser(fusion_type="mimir", encoder_dim=D, llm_dim=D_LLM, num_llm_layers=0)


@pytest.mark.parametrize("fusion_type", ["direct_add", "norm_ss", "zeroconv", "mimir"])
def test_llm_branch_off_leaves_the_encoder_part_alone(fusion_type):
    fuser = randomized(TokenFuser(fusion_type=fusion_type, encoder_dim=D, llm_dim=D_LLM))
    e_t5, enc_mask, h, llm_mask, h_i = inputs()
    on, _ = fuser(e_t5, enc_mask, h, llm_mask, h_i)
    off, mask = fuser(e_t5, enc_mask, h, llm_mask, h_i, llm_branch="off")
    e_theta = e_t5 + fuser.encoder_zero_conv(e_t5) if hasattr(fuser, "encoder_zero_conv") else e_t5
    torch.testing.assert_close(off[:, :n], e_theta)  # e_beta zeroed
    assert off[:, n:].eq(0).all() and off.shape == on.shape and mask.shape[1] == on.shape[1]  # e_s zeroed, kept
    assert not torch.allclose(on, off)
    with pytest.raises(ValueError, match="'half'"):
        fuser(e_t5, enc_mask, h, llm_mask, h_i, llm_branch="half")


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
    normed = fuser.normalize_llm(h[:, :, 0])[llm_mask.bool()]
    assert h.abs().max() > 5.0
    assert normed.std(dim=-1).sub(0.25).abs().max() < 0.02
    assert normed.abs().max() < 1.5


def test_save_load_round_trip(tmp_path):
    torch.manual_seed(0)
    fuser = TokenFuser(
        fusion_type="mimir", encoder_dim=D, llm_dim=D_LLM, alpha=0.5, norm_type="rms_norm", num_llm_layers=2
    )
    randomized(fuser)
    fuser.save_pretrained(tmp_path / "fuser")
    loaded = TokenFuser.from_pretrained(tmp_path / "fuser")
    assert loaded.config.alpha == 0.5 and loaded.config.norm_type == "rms_norm" and loaded.config.num_llm_layers == 2
    args = inputs(layers=2)
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


def test_a_checkpoint_with_the_old_scalar_scale_loads_as_a_vector(tmp_path):
    """`llm_scale` is (1,) since FSDP refused the 0-d parameter; the shipped nano fuser (saved 0-d) and a resumed run's
    0-d state (torch's `load_state_dict`, nested as in the trainer's model) load with the same value."""
    from safetensors import safe_open

    shipped = Path(token_fuser.__file__).parent / "assets" / "nano" / "mimir" / "token_fuser"
    with safe_open(shipped / "diffusion_pytorch_model.safetensors", "pt") as f:
        on_disk = f.get_tensor("llm_scale")
    assert on_disk.shape == ()  # still the old layout on disk: the test covers the upgrade
    fuser = token_fuser.load_token_fuser(shipped)
    assert fuser.llm_scale.shape == (1,) and fuser.llm_scale.item() == on_disk.item()

    parent = torch.nn.ModuleDict({"fuser": TokenFuser(encoder_dim=D, llm_dim=D_LLM)})
    old = {k: v.clone() for k, v in parent.state_dict().items()}
    old["fuser.llm_scale"] = torch.tensor(0.75)  # (), as saved before
    parent.load_state_dict(old)
    assert parent["fuser"].llm_scale.shape == (1,) and parent["fuser"].llm_scale.item() == 0.75
