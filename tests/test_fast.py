"""The `fast` switch (mimir/fast.py) on tiny seeded pipelines: the step cache really skips transformer blocks, leaves
the latents bitwise alone when it skips nothing, works under every memory mode with the same latents as without
offload, and bad values and impossible combinations are refused naming the value; the CLI and the app pass the
switch to `load_pipelines`."""

import sys
from types import ModuleType

import pytest
import torch

import app
from mimir.__main__ import main
from mimir.fast import (
    FAST_MODES,
    FastSettings,
    apply_fast,
    check_fast,
    check_float8_device,
    count_block_forwards,
    float8_layer,
    float8_scaling,
    quantize_float8,
    record_cache_decisions,
)
from mimir.loading import load_pipelines
from mimir.offload import MEMORY_MODES, OffloadController
from mimir.text_models import load_smollm2_tokenizer

from .test_offload import CALL, PROMPTS, studio_pair


# 8 steps and 3 blocks: enough steps for the first block's residual to settle, a first block and two to skip.
STEPS, LAYERS = 8, 3
# On these seeded tiny DiTs the first block's residual changes by more than 1% at every step (nothing is skipped)
# and by less than 20% at some (half the blocks are skipped); measured, and asserted below.
NOTHING_SKIPPED, SOME_SKIPPED = 0.01, 0.2


@pytest.fixture(scope="module")
def llm_tokenizer():
    return load_smollm2_tokenizer()


def latents_and_count(pipe, seed: int = 3):
    """Final latents of one call, and the DiT's block forwards during it."""
    with count_block_forwards(pipe.transformer) as count:
        out = pipe(
            PROMPTS[0],
            generator=torch.Generator().manual_seed(seed),
            output_type="latent",
            **{**CALL, "num_inference_steps": STEPS},
        )
    return out.frames, count


def test_the_cache_skips_transformer_blocks(llm_tokenizer):
    exact = studio_pair(llm_tokenizer, num_layers=LAYERS)
    fast = studio_pair(llm_tokenizer, num_layers=LAYERS)
    apply_fast(fast.values(), FastSettings(threshold=SOME_SKIPPED))
    for name in ("cogvideox", "mimir"):
        reference, full = latents_and_count(exact[name])
        decisions = record_cache_decisions(fast[name].transformer)
        latents, cached = latents_and_count(fast[name])
        # the cache's own decisions (what full_scale.py reads under torch.compile) match the blocks that ran
        assert len(decisions) == STEPS and cached.block_forwards == STEPS + (LAYERS - 1) * sum(decisions)
        assert full.denoiser_calls == cached.denoiser_calls == STEPS
        assert full.block_forwards == STEPS * LAYERS and full.fraction_computed == 1.0
        # the first block always runs; the others only on the steps the cache does not skip
        assert STEPS <= cached.block_forwards < STEPS * LAYERS, (name, cached)
        assert not torch.equal(latents, reference)  # a skipped step reuses residuals: the numbers move
        assert torch.isfinite(latents).all()


def test_a_cache_that_skips_nothing_and_fast_off_are_bitwise_exact(llm_tokenizer):
    exact = studio_pair(llm_tokenizer, num_layers=LAYERS)
    hooked = studio_pair(llm_tokenizer, num_layers=LAYERS)
    apply_fast(hooked.values(), FastSettings(threshold=NOTHING_SKIPPED))
    for name in ("cogvideox", "mimir"):
        reference, _ = latents_and_count(exact[name])
        latents, count = latents_and_count(hooked[name])
        assert count.fraction_computed == 1.0
        torch.testing.assert_close(latents, reference, rtol=0, atol=0)
        # and the state is reset after a call (diffusers' maybe_free_model_hooks): a second call gives the same
        torch.testing.assert_close(latents_and_count(hooked[name])[0], reference, rtol=0, atol=0)


def test_fast_off_puts_nothing_on_the_pipelines():
    pipes = load_pipelines("nano", device="cpu")  # default: fast="off"
    assert pipes.fast is None
    assert not pipes.cogvideox.transformer.is_cache_enabled and not pipes.mimir.transformer.is_cache_enabled
    fast = load_pipelines("nano", device="cpu", fast="on")
    assert fast.fast == FastSettings(compile=False)  # the CPU: the cache alone
    assert fast.cogvideox.transformer.is_cache_enabled and fast.mimir.transformer.is_cache_enabled


@pytest.fixture(scope="module")
def cached_without_offload(llm_tokenizer):
    """Latents and block counts of the cached pair without any memory mode."""
    reference = studio_pair(llm_tokenizer, num_layers=LAYERS)
    apply_fast(reference.values(), FastSettings(threshold=SOME_SKIPPED))
    return {name: latents_and_count(reference[name]) for name in ("cogvideox", "mimir")}


@pytest.mark.parametrize("mode", MEMORY_MODES)
def test_the_cache_under_every_memory_mode_gives_the_latents_without_offload(
    llm_tokenizer, cached_without_offload, mode
):
    """The cache goes on before the memory mode; each mode gives bitwise the cached latents of mode none, and still
    skips blocks (group offloading wraps the cache's hooks, so it moves weights as it would without it)."""
    expected = cached_without_offload

    pipes = studio_pair(llm_tokenizer, num_layers=LAYERS)
    apply_fast(pipes.values(), FastSettings(threshold=SOME_SKIPPED), mode)
    OffloadController(pipes, "cpu").apply(mode)
    for name in ("cogvideox", "mimir", "cogvideox", "mimir"):
        latents, count = latents_and_count(pipes[name])
        torch.testing.assert_close(latents, expected[name][0], rtol=0, atol=0)
        assert count.block_forwards == expected[name][1].block_forwards < STEPS * LAYERS


def test_bad_values_and_impossible_combinations_are_refused(llm_tokenizer):
    with pytest.raises(ValueError, match=r"fast must be one of \('off', 'on', 'fp8'\), got 'yes'"):
        check_fast("yes")
    with pytest.raises(ValueError, match=r"fast must be one of \('off', 'on', 'fp8'\), got 'yes'"):
        load_pipelines("nano", fast="yes")  # before anything loads
    with pytest.raises(ValueError, match=r"cache must be one of \('first_block', 'none'\), got 'pab'"):
        FastSettings(cache="pab").check()
    with pytest.raises(ValueError, match=r"threshold must be in \(0, 1\) for cache='first_block', got 1.5"):
        FastSettings(threshold=1.5).check()
    for mode in ("sequential_offload", "group_offload"):
        with pytest.raises(ValueError, match=f"compile=True with memory='{mode}': compilation runs only with"):
            FastSettings(compile=True).check(mode)
    with pytest.raises(ValueError, match="cache='first_block' needs a DiT of at least 2 transformer blocks.* has 1"):
        apply_fast(studio_pair(llm_tokenizer, num_layers=1).values(), FastSettings())
    pipes = studio_pair(llm_tokenizer, num_layers=LAYERS)
    OffloadController(pipes, "cpu").apply("group_offload")
    with pytest.raises(ValueError, match="the DiT carries no FirstBlockCache"):
        record_cache_decisions(pipes["mimir"].transformer)
    with pytest.raises(ValueError, match="apply_fast after group offloading"):
        apply_fast(pipes.values(), FastSettings())


def test_compile_goes_on_every_block_on_cuda_only(llm_tokenizer, monkeypatch):
    """Where `fast="on"` compiles, and that it compiles each transformer block in place (regional compilation);
    compiling for real is for the GPU run."""
    assert FastSettings.for_pipelines("cuda", "none").compile and FastSettings.for_pipelines("cuda", "model_offload")
    assert not FastSettings.for_pipelines("cuda", "group_offload").compile
    assert not FastSettings.for_pipelines("cpu", "none").compile
    compiled = []
    monkeypatch.setattr(torch.nn.Module, "compile", lambda self, *a, **k: compiled.append(self))
    pipes = studio_pair(llm_tokenizer, num_layers=LAYERS)
    apply_fast(pipes.values(), FastSettings(compile=True))
    blocks = [b for name in ("cogvideox", "mimir") for b in pipes[name].transformer.transformer_blocks]
    assert [id(b) for b in compiled] == [id(b) for b in blocks]


class Loaded(Exception):
    """Raised by the stand-in loader: the arguments reached it."""


def test_the_cli_and_the_app_pass_the_switch_to_load_pipelines(monkeypatch, tmp_path, capsys):
    seen = {}

    def fake_load(*args, **kwargs):
        seen.update(kwargs)
        raise Loaded

    monkeypatch.setattr("mimir.loading.load_pipelines", fake_load)
    base = ["generate", "--prompt", "a red circle", "--out", str(tmp_path / "x.mp4")]
    for flags, expected in (([], "off"), (["--fast"], "on"), (["--fast", "on"], "on"), (["--fast", "off"], "off")):
        with pytest.raises(Loaded):
            main(base + flags)
        assert seen["fast"] == expected, flags
    with pytest.raises(SystemExit):
        main(base + ["--fast", "maybe"])
    err = capsys.readouterr().err.replace("'off', 'on', 'fp8'", "off, on, fp8")
    assert "invalid choice: 'maybe' (choose from off, on, fp8)" in err

    monkeypatch.setattr("mimir.loading.load_pipelines", fake_load)
    monkeypatch.delenv("MIMIR_FAST", raising=False)
    assert app.parse_args([]).fast == "off" and app.parse_args(["--fast"]).fast == "on"
    monkeypatch.setenv("MIMIR_FAST", "on")
    args = app.parse_args(["--votes", str(tmp_path / "votes.csv")])
    with pytest.raises(Loaded):
        app.create_app(args)
    assert seen["fast"] == "on"
    assert app.parse_args(["--fast", "off"]).fast == "off"  # a flag wins over the variable
    # a bad Space variable reaches the one check, which names it
    monkeypatch.setenv("MIMIR_FAST", "fastest")
    with pytest.raises(ValueError, match=r"fast must be one of \('off', 'on', 'fp8'\), got 'fastest'"):
        load_pipelines("nano", fast=app.parse_args([]).fast)
    assert FAST_MODES == ("off", "on", "fp8")


def test_float8_is_refused_where_it_cannot_run(monkeypatch):
    """fast='fp8' names what is missing, before any model loads: a CUDA GPU, compute capability >= 8.9, memory
    `none`, torchao. The GPU's answers are stood in for on the CPU; tests/test_fast_gpu.py runs it for real."""
    with pytest.raises(
        ValueError, match=r"fast='fp8' needs a CUDA GPU of compute capability >= 8.9 \(Ada, Hopper\), got cpu"
    ):
        load_pipelines("nano", device="cpu", fast="fp8")
    with pytest.raises(ValueError, match=r"float8=True \(fast='fp8'\) with memory='model_offload': float8 runs only"):
        FastSettings(float8=True).check("model_offload")
    assert FastSettings.for_pipelines("cpu", "none", "fp8").float8 and not FastSettings.for_pipelines("cpu").float8

    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA A100")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (8, 0))
    with pytest.raises(ValueError, match=r"compute capability >= \(8, 9\); NVIDIA A100 \(cuda:0\) has \(8, 0\)"):
        check_float8_device("cuda:0")
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    monkeypatch.setattr("importlib.util.find_spec", lambda name, *a: None if name == "torchao" else object())
    with pytest.raises(ValueError, match="fast='fp8' needs torchao, which the CPU install leaves out"):
        check_float8_device("cuda:0")


def test_float8_takes_each_blocks_attention_and_feed_forward_linears(llm_tokenizer):
    transformer = studio_pair(llm_tokenizer, num_layers=2)["mimir"].transformer
    chosen = {name for name, module in transformer.named_modules() if float8_layer(module, name)}
    per_block = {"attn1.to_q", "attn1.to_k", "attn1.to_v", "attn1.to_out.0", "ff.net.0.proj", "ff.net.2"}
    assert chosen == {f"transformer_blocks.{i}.{layer}" for i in range(2) for layer in per_block}
    # what float8 matmuls cannot take, or what is not in a block's attention or MLP, stays as it is
    assert not float8_layer(torch.nn.Linear(24, 32), "transformer_blocks.0.ff.net.2")
    assert not float8_layer(torch.nn.Linear(32, 32), "transformer_blocks.0.norm1.linear")
    assert not float8_layer(torch.nn.Linear(32, 32), "proj_out")
    # the 5B preset's bf16 DiT gets a scale per row; nano's fp32 DiT one per tensor (row-wise writes bf16 only)
    assert float8_scaling(torch.bfloat16) == "row" and float8_scaling(transformer.dtype) == "tensor"


def test_float8_leaves_the_process_wide_inductor_settings_alone(llm_tokenizer, monkeypatch):
    """torchao's float8 config turns on coordinate-descent autotuning for the whole process unless told not to; the
    config quantize_float8 hands to torchao says not to, and takes the layers float8_layer picks. torchao is not in
    the CPU install, so a stand-in records the call; tests/test_fast_gpu.py runs the real one."""
    calls = []

    class Config:
        def __init__(self, **kwargs):
            self.kwargs = kwargs

    fake = ModuleType("torchao.quantization")
    fake.Float8DynamicActivationFloat8WeightConfig = Config
    fake.PerRow, fake.PerTensor = (lambda: "row"), (lambda: "tensor")
    fake.quantize_ = lambda model, config, filter_fn, device: calls.append((model, config, filter_fn, device))
    monkeypatch.setitem(sys.modules, "torchao", ModuleType("torchao"))
    monkeypatch.setitem(sys.modules, "torchao.quantization", fake)
    transformer = studio_pair(llm_tokenizer, num_layers=2)["mimir"].transformer
    quantize_float8(transformer, torch.device("cpu"))
    ((model, config, filter_fn, device),) = calls
    assert model is transformer and filter_fn is float8_layer and device == torch.device("cpu")
    assert config.kwargs == {"granularity": "tensor", "set_inductor_config": False}
