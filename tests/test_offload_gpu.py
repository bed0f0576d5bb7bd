"""On a CUDA device: every memory mode runs CogVideoX, Mimir, CogVideoX, Mimir in turn with the two pipelines sharing
the text encoder and the VAE, every module is where the mode puts it (while denoising and after each call), and the
final latents equal those of single pipelines in mode `none`.

Before the offload controller these failed: `model_offload` on the first CogVideoX call (StopIteration in accelerate's
hook on the parameterless `t5_only` fuser), `sequential_offload` even for Mimir alone ("Cannot copy out of meta
tensor": the encoder's inputs followed its weights to `meta`), and two pipelines' hooks overwrote each other.

Tolerances, stated: tiny fp32 components, rtol=1e-5 and atol=1e-6 (the same kernels on the same device give the same
bits; cuBLAS/cuDNN may pick another algorithm when free memory differs between modes, which moves the last bits
only). The preset path (bf16, 8-bit LLM) from tiny local folders: rtol=1.6e-2, atol=1e-2 (bf16's resolution).
"""

import pytest
import torch

from mimir.loading import load_pipelines
from mimir.offload import MEMORY_MODES, OffloadController, can_move_8bit
from mimir.text_models import load_smollm2_tokenizer

from .test_offload import PROMPTS, studio_pair
from .tiny import save_tiny_5b_folders


pytestmark = pytest.mark.gpu
FP32_TOL = dict(rtol=1e-5, atol=1e-6)
BF16_TOL = dict(rtol=1.6e-2, atol=1e-2)


def device_of(module: torch.nn.Module) -> str:
    """The one device type of a module's weights; for an 8-bit model also of the int8 weights and scales that
    bitsandbytes keeps beside the parameters (`weight.CB` before the first forward, `state.CB` after)."""
    types = {p.device.type for p in module.parameters()}
    for sub in module.modules():
        for holder in (getattr(sub, "weight", None), getattr(sub, "state", None)):
            types |= {getattr(holder, k).device.type for k in ("CB", "SCB") if getattr(holder, k, None) is not None}
    assert len(types) == 1, f"weights split over {types}"
    return types.pop()


def expected_after_call(mode: str, name: str, whole: set[str], stays: set[str]) -> str:
    """Where a module's weights are after a call that ended with the VAE decode (written out here, not read from the
    controller). `whole`: modules that move as a whole in the leaf/group modes; `stays`: modules that never move
    (an 8-bit LLM where bitsandbytes cannot move it)."""
    if mode == "none" or name in stays:
        return "cuda"
    if mode == "model_offload":
        return "cuda" if name == "vae" else "cpu"
    if mode == "sequential_offload":
        return "cpu" if name in whole else "meta"
    return "cpu"  # group_offload: every group goes back to the CPU after its forward


def expected_while_denoising(mode: str, name: str, running: str, whole: set[str], stays: set[str]) -> str:
    if mode == "model_offload" and name not in stays:
        return "cuda" if name == running else "cpu"
    return expected_after_call(mode, name, whole, stays)


def generate(pipe, controller: OffloadController | None = None) -> tuple[torch.Tensor, dict]:
    """Final latents of one seeded call (decoded after them) and, with a controller, where each owned module's
    weights were at the end of the first denoising step."""
    seen, placement = {}, {}

    def callback(p, i, t, kwargs):
        if i == 0 and controller is not None:
            placement.update({n: device_of(o.module) for n, o in owned_with_weights(controller).items()})
        seen["latents"] = kwargs["latents"].detach().clone()
        return {}

    pipe(
        PROMPTS[0],
        generator=torch.Generator("cuda").manual_seed(3),
        callback_on_step_end=callback,
        output_type="np",
        num_frames=9,
        height=16,
        width=16,
        num_inference_steps=2,
        guidance_scale=3.0,
    )
    return seen["latents"], placement


def owned_with_weights(controller: OffloadController) -> dict:
    return {name: owned for name, owned in controller.owned.items() if owned.placement != "stateless"}


def run_in_turn(pipes, controller, mode, expected, tol, whole: set[str], stays: set[str] = frozenset()) -> None:
    for name in ("cogvideox", "mimir", "cogvideox", "mimir"):
        latents, during = generate(pipes[name], controller)
        torch.testing.assert_close(latents, expected[name], **tol)
        running = f"{name}.transformer"
        assert during == {n: expected_while_denoising(mode, n, running, whole, stays) for n in during}, (name, mode)
        after = {n: device_of(o.module) for n, o in owned_with_weights(controller).items()}
        assert after == {n: expected_after_call(mode, n, whole, stays) for n in after}, (name, mode)


@pytest.fixture(scope="module")
def llm_tokenizer():
    return load_smollm2_tokenizer()


@pytest.mark.parametrize("mode", MEMORY_MODES)
def test_tiny_pipelines_in_turn_in_every_mode(llm_tokenizer, mode):
    single = studio_pair(llm_tokenizer)
    expected = {name: generate(pipe.to("cuda"))[0] for name, pipe in single.items()}
    assert not torch.equal(expected["cogvideox"], expected["mimir"])
    del single
    pipes = studio_pair(llm_tokenizer)
    controller = OffloadController(pipes, "cuda").apply(mode)
    run_in_turn(pipes, controller, mode, expected, FP32_TOL, whole={"mimir.token_fuser"})


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return save_tiny_5b_folders(tmp_path_factory.mktemp("tiny5b"))


@pytest.fixture(scope="module")
def preset_reference(folders):
    pipes = load_pipelines("cogvideox-5b", memory="none", device="cuda", **folders)  # bf16, 8-bit LLM
    assert getattr(pipes.mimir.llm, "is_loaded_in_8bit", False)
    return {name: generate(pipes.pipeline(name))[0] for name in ("cogvideox", "mimir")}


@pytest.mark.parametrize("mode", MEMORY_MODES)
def test_5b_preset_from_local_folders_in_every_mode(folders, preset_reference, mode):
    pipes = load_pipelines("cogvideox-5b", memory=mode, device="cuda", vae_tiling=True, **folders)
    movable = can_move_8bit()
    whole = {"mimir.token_fuser"} | ({"llm"} if movable else set())
    stays = set() if movable else {"llm"}
    pair = {"cogvideox": pipes.cogvideox, "mimir": pipes.mimir}
    run_in_turn(pair, pipes.offload, mode, preset_reference, BF16_TOL, whole, stays)
