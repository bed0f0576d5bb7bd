"""The offload controller's logic on the CPU (execution device = offload device = CPU): which modules it owns, one hook
each, none on a module without parameters, a second controller refused, and CogVideoX, Mimir, CogVideoX, Mimir in
turn giving bitwise the latents of single pipelines without offload in every mode. Device placement itself is
checked on a GPU (test_offload_gpu.py)."""

import pytest
import torch
from accelerate.hooks import SequentialHook
from diffusers.hooks import HookRegistry, apply_group_offloading
from diffusers.hooks import ModelHook as DiffusersModelHook

from mimir.loading import load_pipelines
from mimir.offload import MEMORY_MODES, OffloadController, SlotHook, compute_device
from mimir.pipeline import MimirPipeline
from mimir.text_models import load_smollm2_tokenizer
from mimir.token_fuser import TokenFuser

from .tiny import ENCODER_DIM, LLM_DIM, SEQ, tiny_llm, tiny_text_encoder, tiny_video_models


CALL = dict(num_frames=9, height=16, width=16, num_inference_steps=2, guidance_scale=3.0)
PROMPTS = ("two red circles to the left of a blue square", "a white cross moving up")


@pytest.fixture(scope="module")
def llm_tokenizer():
    return load_smollm2_tokenizer()


def studio_pair(llm_tokenizer, num_layers: int = 1) -> dict[str, MimirPipeline]:
    """Fresh seeded modules, shared as `load_pipelines` shares them: text encoder, VAE and scheduler."""
    tokenizer, text_encoder = tiny_text_encoder()
    transformer, vae, scheduler = tiny_video_models(num_layers=num_layers)
    torch.manual_seed(5)
    mimir_transformer, _, _ = tiny_video_models(num_layers=num_layers)
    with torch.no_grad():  # a DiT of its own, with other weights than CogVideoX's
        for p in mimir_transformer.parameters():
            p.add_(0.01 * torch.randn_like(p))
    torch.manual_seed(2)
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM)
    shared = dict(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, scheduler=scheduler)
    limits = dict(max_sequence_length=SEQ, max_num_frames=17)
    t5_only = TokenFuser(fusion_type="t5_only", encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM)
    return {
        "cogvideox": MimirPipeline(**shared, transformer=transformer, token_fuser=t5_only, **limits),
        "mimir": MimirPipeline(
            **shared,
            transformer=mimir_transformer,
            token_fuser=fuser,
            llm_tokenizer=llm_tokenizer,
            llm=tiny_llm(llm_tokenizer),
            **limits,
        ),
    }


def final_latents(pipe: MimirPipeline, prompt: str, seed: int) -> torch.Tensor:
    """The latents after the last step (captured by the callback), with the VAE decode run after them."""
    seen = {}

    def grab(p, i, t, kwargs):
        seen["latents"] = kwargs["latents"].detach().clone()
        return {}

    pipe(prompt, generator=torch.Generator().manual_seed(seed), callback_on_step_end=grab, output_type="np", **CALL)
    return seen["latents"]


def test_controller_owns_each_module_once(llm_tokenizer):
    pipes = studio_pair(llm_tokenizer)
    controller = OffloadController(pipes, "cpu")
    assert set(controller.owned) == {
        "text_encoder",
        "vae",
        "llm",
        "cogvideox.token_fuser",
        "cogvideox.transformer",
        "mimir.token_fuser",
        "mimir.transformer",
    }
    assert controller.owned["text_encoder"].module is pipes["cogvideox"].text_encoder is pipes["mimir"].text_encoder
    slots = {name: owned.slot for name, owned in controller.owned.items()}
    assert slots["text_encoder"] == slots["llm"] == slots["mimir.token_fuser"] == "text"
    assert len({slots["cogvideox.transformer"], slots["mimir.transformer"], slots["vae"], "text"}) == 4


@pytest.mark.parametrize("mode", [m for m in MEMORY_MODES if m != "none"])
def test_one_hook_per_module_and_none_on_the_parameterless_fuser(llm_tokenizer, mode):
    pipes = studio_pair(llm_tokenizer)
    controller = OffloadController(pipes, "cpu").apply(mode)
    # the t5_only fuser has no parameters: accelerate's CpuOffload would raise StopIteration on it
    assert next(pipes["cogvideox"].token_fuser.parameters(), None) is None
    assert not hasattr(pipes["cogvideox"].token_fuser, "_hf_hook")
    assert controller.placements()["cogvideox.token_fuser"] == "stateless"
    for name, owned in controller.owned.items():
        if owned.placement == "stateless":
            continue
        hook = owned.module._hf_hook
        hooks = hook.hooks if isinstance(hook, SequentialHook) else (hook,)
        slot_hooks = [h for h in hooks if isinstance(h, SlotHook)]
        assert len(slot_hooks) == 1 and slot_hooks[0].name == name, (name, hooks)


@pytest.mark.parametrize("mode", MEMORY_MODES)
def test_a_second_controller_is_refused(llm_tokenizer, mode):
    pipes = studio_pair(llm_tokenizer)
    OffloadController(pipes, "cpu").apply(mode)
    if mode == "none":  # nothing hooked: a second placement is harmless
        OffloadController(pipes, "cpu").apply("model_offload")
        return
    with pytest.raises(ValueError, match="text_encoder already carries .*: one controller places a module"):
        OffloadController(pipes, "cpu").apply("model_offload")


def test_unknown_mode_is_refused(llm_tokenizer):
    with pytest.raises(ValueError, match=r"memory must be one of \('none', .*'group_offload'\), got 'low_vram'"):
        OffloadController(studio_pair(llm_tokenizer), "cpu").apply("low_vram")
    with pytest.raises(ValueError, match="memory='group_offload' offloads to the CPU from a GPU, but device='cpu'"):
        load_pipelines("nano", memory="group_offload", device="cpu")


def test_inputs_go_where_the_hook_runs_the_encoder(llm_tokenizer):
    """Sequential offload leaves the encoder's weights on `meta`: its inputs must not follow them there (the
    "Cannot copy out of meta tensor" failure of the BERT/MiniLM encoder branch)."""
    pipes = studio_pair(llm_tokenizer)
    OffloadController(pipes, "cpu").apply("sequential_offload")
    encoder = pipes["mimir"].text_encoder
    assert encoder.device.type == "meta"
    assert compute_device(encoder) == torch.device("cpu")


@pytest.mark.parametrize("mode", MEMORY_MODES)
def test_alternating_pipelines_give_the_single_pipeline_latents(llm_tokenizer, mode):
    reference = studio_pair(llm_tokenizer)
    expected = {name: final_latents(reference[name], PROMPTS[0], seed=3) for name in ("cogvideox", "mimir")}
    assert not torch.equal(expected["cogvideox"], expected["mimir"])  # the two DiTs and conditions differ

    pipes = studio_pair(llm_tokenizer)
    controller = OffloadController(pipes, "cpu").apply(mode)
    for name in ("cogvideox", "mimir", "cogvideox", "mimir"):
        latents = final_latents(pipes[name], PROMPTS[0], seed=3)
        torch.testing.assert_close(latents, expected[name], rtol=0, atol=0)  # same device, same kernels: bitwise
        # whole modules: only the slot that ran last (the VAE) stays on the device
        assert controller.resident == ({"vae"} if mode == "model_offload" else set())


def test_why_not_diffusers_offload_per_pipeline(llm_tokenizer):
    """The two failures the controller exists for, reproduced with diffusers' own API on the CPU: accelerate's
    CpuOffload hook raises StopIteration on the parameterless t5_only fuser, and the second pipeline's
    `enable_model_cpu_offload` replaces the first's hooks on the shared text encoder. If diffusers or accelerate
    change this, this test says so."""
    pipes = studio_pair(llm_tokenizer)
    pipes["cogvideox"].enable_model_cpu_offload(device="cpu")
    with pytest.raises(StopIteration):
        pipes["cogvideox"](PROMPTS[0], generator=torch.Generator().manual_seed(0), output_type="latent", **CALL)
    first = {id(hook.hook) for hook in pipes["cogvideox"]._all_hooks}
    pipes["mimir"].enable_model_cpu_offload(device="cpu")
    assert id(pipes["mimir"].text_encoder._hf_hook) not in first  # the shared encoder now answers to Mimir's chain


class _RemovesItselfAfterFirstForward(DiffusersModelHook):
    """What diffusers' LazyPrefetchGroupOffloadingHook does with CUDA streams (group_offloading.py): registered on
    the top module by `apply_group_offloading`, it removes itself after the first forward, and the registry then
    restores `module.forward` to what it was when the hook was registered."""

    def post_forward(self, module, output):
        module._diffusers_hook.remove_hook("lazy", recurse=False)
        return output


def test_slot_hooks_outlive_diffusers_removing_its_stream_prefetch_hook(llm_tokenizer, monkeypatch):
    """On the CPU group offloading runs without streams, so the lazy prefetch hook is stood in for. Before the fix the
    slot hook wrapped `forward` from outside diffusers' registry: the removal dropped it, and from the second call on
    no DiT evicted the text models (seen on an H200 as `mimir.token_fuser` on the GPU while denoising)."""

    def with_lazy_hook(module, **kwargs):
        apply_group_offloading(module, **kwargs)
        HookRegistry.check_if_exists_or_initialize(module).register_hook(_RemovesItselfAfterFirstForward(), "lazy")

    monkeypatch.setattr("mimir.offload.apply_group_offloading", with_lazy_hook)
    pipes = studio_pair(llm_tokenizer)
    controller = OffloadController(pipes, "cpu").apply("group_offload")
    activated, real = [], controller.activate
    monkeypatch.setattr(controller, "activate", lambda name: activated.append(name) or real(name))
    for call in range(3):
        activated.clear()
        pipes["mimir"].prompt_encoder.clear_cache()  # encode again: the text models run in every call
        final_latents(pipes["mimir"], PROMPTS[0], seed=3)
        assert "lazy" not in pipes["mimir"].transformer._diffusers_hook.hooks  # the stand-in did remove itself
        assert {"text_encoder", "llm", "mimir.token_fuser", "mimir.transformer", "vae"} <= set(activated), call
