"""One offload controller for the two pipelines of a preset (CogVideoX and Mimir), which share the text encoder and
the VAE: the memory modes `none`, `model_offload`, `sequential_offload` and `group_offload`.

Why not diffusers' `enable_model_cpu_offload` / `enable_sequential_cpu_offload` on each pipeline:
- each call removes every hook on the pipeline's components and installs its own, so the second pipeline's call
  replaces the first's hooks on the shared text encoder and VAE; diffusers' `maybe_free_model_hooks` re-installs them
  after every generation, so the two pipelines keep overwriting each other;
- sequential offload run twice over a shared module offloads weights that are already on `meta`;
- accelerate's `CpuOffload` hook reads `next(module.parameters())`, which raises `StopIteration` on the CogVideoX
  pipeline's `t5_only` TokenFuser (it has no parameters).
A fourth failure was ours: the text branches sent their inputs to `text_encoder.device`, which is `meta` under
sequential offload ("Cannot copy out of meta tensor", one pipeline alone). They now send them to `compute_device`.

Decision: one controller owns the union of both pipelines' components, each module once (by identity), and installs
one hook per module. Modules without parameters are not offloaded at all (there is nothing to move); they go to the
device once. Every owned module belongs to a *residency slot*: `text` (encoder, LLM, fusers), one slot per DiT, and
`vae`. When a module runs, whole modules of every other slot leave the device first. So in `model_offload` at most
one slot is on the GPU: the text models together while a prompt is encoded (T5 9.5 GB + 8-bit Phi-3.5 ~4 GB of
weights; they alternate per prompt, so one slot avoids moving them back and forth), one DiT while denoising, the VAE
while decoding. Keeping both 5B DiTs resident (or only Mimir's, 11.1 GB) beside the text models would not fit 16 GB;
swapping a DiT costs one host-to-device copy of 11.1 GB per generation, which we expect to be a few percent of a
50-step video (to be measured: benchmarks/full_scale.py).

- `none`: everything on the device; nothing is hooked.
- `model_offload`: whole modules move to the device when they run (the slot rule above).
- `sequential_offload`: accelerate's leaf-level `cpu_offload` (weights on `meta`, copied in per layer) on each module
  once; an 8-bit bitsandbytes LLM cannot live on `meta`, so it moves as a whole module under the slot rule.
- `group_offload`: the low-VRAM mode, diffusers' group offloading with CUDA streams (the next block is copied in
  while the current one runs; whether it beats `sequential_offload` is for full_scale.py to show): block level for
  the DiTs (one transformer block per group), leaf level for the text encoder and the VAE (the VAE decodes through
  `decode`, not `forward`, and T5's blocks are not direct children). The 8-bit LLM and the small Mimir fuser move
  as whole modules.

In every offloaded mode, an 8-bit LLM joins the slot rule only where bitsandbytes and transformers can move it
(diffusers' own rule: bitsandbytes >= 0.48 and transformers >= 4.58; diffusers issue 10653); otherwise it stays
resident where it was loaded.
"""

from dataclasses import dataclass
from typing import Literal

import torch
from accelerate import cpu_offload
from accelerate.hooks import ModelHook, add_hook_to_module
from accelerate.utils import send_to_device
from diffusers.hooks import apply_group_offloading
from diffusers.hooks.group_offloading import _get_group_onload_device, _is_group_offload_enabled
from diffusers.utils import is_bitsandbytes_version, is_transformers_version


MemoryMode = Literal["none", "model_offload", "sequential_offload", "group_offload"]
MEMORY_MODES: tuple[str, ...] = ("none", "model_offload", "sequential_offload", "group_offload")
Placement = Literal["resident", "whole", "leaf", "group", "stateless"]


def compute_device(module: torch.nn.Module) -> torch.device:
    """The device `module` computes on. Under offload its parameters sit on the CPU or on `meta` until a hook moves
    them, so inputs must go where the hook runs the module, not where its parameters are now."""
    try:
        return torch.device(_get_group_onload_device(module))
    except ValueError:
        pass
    for sub in module.modules():
        device = getattr(getattr(sub, "_hf_hook", None), "execution_device", None)
        if device is not None:
            return torch.device(device)
    param = next(module.parameters(), None)
    return param.device if param is not None else torch.device("cpu")


def _hooked_by(module: torch.nn.Module) -> str | None:
    """Which offloading already hooks `module` or a submodule: accelerate's (`_hf_hook`) or diffusers' group
    offloading; None when it is free."""
    if _is_group_offload_enabled(module):
        return "diffusers group offloading"
    for sub in module.modules():
        hook = getattr(sub, "_hf_hook", None)
        if hook is not None:
            return f"an accelerate hook ({type(hook).__name__})"
    return None


def is_8bit(module: torch.nn.Module) -> bool:
    return bool(getattr(module, "is_loaded_in_8bit", False))


def move(module: torch.nn.Module, device: str | torch.device) -> None:
    """`module.to(device)`, with the int8 weights that bitsandbytes keeps beside the parameters.

    A `Linear8bitLt` holds its int8 weights twice by reference: as `weight` and as `weight.CB` before its first
    forward, `state.CB` after it (the same tensor). A parent's `.to()` moves only the parameter; the stale reference
    would keep the GPU copy alive after an eviction, and bring a second copy in on the next onload. So both
    references are pointed at the moved parameter, and the scales (`SCB`) follow it.
    """
    module.to(device)
    if not is_8bit(module):
        return
    for sub in module.modules():
        weight, state = getattr(sub, "weight", None), getattr(sub, "state", None)
        for holder in (weight, state):
            if getattr(holder, "CB", None) is not None:
                holder.CB = weight.data  # (out, in) int8: the parameter, already moved
            if getattr(holder, "SCB", None) is not None:
                holder.SCB = holder.SCB.to(device)


def can_move_8bit() -> bool:
    """Whether an 8-bit bitsandbytes model may be moved with `.to()` (diffusers' rule, pipeline_utils)."""
    return is_transformers_version(">=", "4.58.0") and is_bitsandbytes_version(">=", "0.48.0")


@dataclass
class Owned:
    """One module the controller owns: its name, its residency slot and how it is placed in the current mode."""

    name: str  # "text_encoder", "llm", "vae", "cogvideox.transformer", "mimir.token_fuser", ...
    module: torch.nn.Module
    slot: str
    placement: Placement = "resident"


class SlotHook(ModelHook):
    """Before its module runs: evict the whole modules of other slots; with `onload`, bring its module to the device
    and its inputs with it (accelerate's `CpuOffload`, minus its `next(module.parameters())`)."""

    def __init__(self, controller: "OffloadController", name: str, onload: bool):
        self.controller = controller
        self.name = name
        self.onload = onload
        if onload:  # read by diffusers' `_execution_device` and by `compute_device`
            self.execution_device = controller.device

    def pre_forward(self, module, *args, **kwargs):
        self.controller.activate(self.name)
        if self.onload:
            device = self.controller.device
            return send_to_device(args, device), send_to_device(kwargs, device)
        return args, kwargs


class OffloadController:
    """Places the components of several pipelines that share modules, for one memory mode.

    Args:
        pipelines: name -> pipeline, e.g. `{"cogvideox": ..., "mimir": ...}`; shared modules are owned once, under
            their component name (`text_encoder`, `vae`, `llm`); the others as `pipeline.component`.
        device: the accelerator the modules run on. The CPU is accepted so that the hook logic can be tested without
            one (then the offload device and the execution device coincide).
    """

    COMPONENTS = ("text_encoder", "llm", "token_fuser", "transformer", "vae")
    SLOTS = {"text_encoder": "text", "llm": "text", "token_fuser": "text", "vae": "vae"}  # a DiT: its own slot

    def __init__(self, pipelines: dict, device: str | torch.device):
        self.device = torch.device(device)
        self.pipelines = pipelines
        self.mode: str | None = None
        self._resident: set[str] = set()
        owners: dict[int, list[tuple[str, str]]] = {}
        modules: dict[int, torch.nn.Module] = {}
        for pipe_name, pipe in pipelines.items():
            for component in self.COMPONENTS:
                module = getattr(pipe, component, None)
                if isinstance(module, torch.nn.Module):
                    owners.setdefault(id(module), []).append((pipe_name, component))
                    modules[id(module)] = module
        self.owned: dict[str, Owned] = {}
        for key, uses in owners.items():
            component = uses[0][1]
            name = component if len(uses) > 1 or component == "llm" else f"{uses[0][0]}.{component}"
            slot = self.SLOTS.get(component, name)
            self.owned[name] = Owned(name, modules[key], slot)

    # ---- placement -----------------------------------------------------------------------------------------------

    def apply(self, mode: MemoryMode, vae_tiling: bool = False, vae_slicing: bool = False) -> "OffloadController":
        """Install `mode` on every owned module (once per module: shared modules are owned once)."""
        if mode not in MEMORY_MODES:
            raise ValueError(f"memory must be one of {MEMORY_MODES}, got {mode!r}")
        if self.mode is not None:
            raise RuntimeError(f"memory mode {self.mode!r} is already installed; build a new controller")
        for owned in self.owned.values():
            hooked = _hooked_by(owned.module)
            if hooked:
                raise ValueError(
                    f"{owned.name} already carries {hooked}: one controller places a module (a second set of hooks "
                    "would move it behind the first's back); build the pipelines from fresh modules"
                )
        self.mode = mode
        stream = self.device.type == "cuda"  # CUDA streams overlap copies with compute; elsewhere plain copies
        for owned in self.owned.values():
            owned.placement = self._placement(owned, mode)
            module = owned.module
            if owned.placement == "stateless":
                module.to(self.device)  # buffers only: nothing worth offloading
                continue
            if owned.placement == "resident":
                if not is_8bit(module):  # an 8-bit model stays where it was loaded
                    module.to(self.device)
                continue
            if owned.placement == "whole":
                move(module, "cpu")
            elif owned.placement == "leaf":
                module.to("cpu")
                # diffusers' rule: a module with direct parameters also offloads its buffers.
                cpu_offload(module, self.device, offload_buffers=len(module._parameters) > 0)
            elif owned.placement == "group":
                module.to("cpu")
                # The slot hook goes on *before* group offloading, inside diffusers' wrappers: with CUDA streams,
                # diffusers' lazy prefetching removes its top-level hook after the first forward and restores
                # `module.forward` to what it was when that hook was registered, which would drop a wrapper added
                # later (seen on an H200 in tests/test_offload_gpu.py: from the second call on, Mimir's fuser stayed
                # on the GPU while the DiT denoised). Inside, it survives, and `decode` still finds it as `_hf_hook`
                # (apply_forward_hook).
                add_hook_to_module(module, SlotHook(self, owned.name, onload=False))
                # DiTs: one transformer block per group; others: per layer (see the module docstring).
                level = "block_level" if owned.name.endswith("transformer") else "leaf_level"
                apply_group_offloading(
                    module,
                    onload_device=self.device,
                    offload_device=torch.device("cpu"),
                    offload_type=level,
                    num_blocks_per_group=1 if level == "block_level" else None,
                    use_stream=stream,
                )
                continue
            add_hook_to_module(module, SlotHook(self, owned.name, onload=owned.placement == "whole"), append=True)
        self._release()
        for pipe in self.pipelines.values():
            if vae_tiling:
                pipe.vae.enable_tiling()
            if vae_slicing:
                pipe.vae.enable_slicing()
        return self

    def _placement(self, owned: Owned, mode: str) -> Placement:
        module = owned.module
        if next(module.parameters(), None) is None:
            return "stateless"
        if mode == "none":
            return "resident"
        if is_8bit(module):
            return "whole" if can_move_8bit() else "resident"
        if mode == "model_offload" or owned.name.endswith("token_fuser"):
            return "whole"  # the fuser is small (~60 MB at 5B): per-layer copies would cost more than they save
        return "leaf" if mode == "sequential_offload" else "group"

    def activate(self, name: str) -> None:
        """`name` is about to run: whole modules of other slots leave the device; `name` comes in if it is whole."""
        owned = self.owned[name]
        evicted = False
        for other in list(self._resident):
            if self.owned[other].slot != owned.slot:
                move(self.owned[other].module, "cpu")
                self._resident.discard(other)
                evicted = True
        if evicted:
            self._release()
        if owned.placement == "whole" and name not in self._resident:
            move(owned.module, self.device)
            self._resident.add(name)

    def offload_all(self) -> None:
        """Send every whole module back to the CPU (e.g. before another program needs the GPU)."""
        for name in list(self._resident):
            move(self.owned[name].module, "cpu")
        self._resident.clear()
        self._release()

    def _release(self) -> None:
        """Hand the evicted modules' cached blocks back to the device (PyTorch keeps freed memory reserved)."""
        if self.device.type == "cuda":
            torch.cuda.empty_cache()

    @property
    def resident(self) -> frozenset[str]:
        """The whole modules on the device now."""
        return frozenset(self._resident)

    def placements(self) -> dict[str, str]:
        return {name: owned.placement for name, owned in self.owned.items()}
