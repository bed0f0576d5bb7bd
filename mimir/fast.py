"""The `fast` switch: a step cache on the DiTs (diffusers' FirstBlockCache) and, on CUDA, `torch.compile` of their
transformer blocks, applied alike to the CogVideoX and the Mimir pipeline so that the two stay comparable.

What we use, all library features:
- **FirstBlockCache** (`diffusers.hooks.FirstBlockCacheConfig`, via `CogVideoXTransformer3DModel.enable_cache`): at
  each denoiser call the first transformer block runs; when its residual changed by less than `threshold` (relative
  mean absolute difference) since the last full call, the other blocks are skipped and their cached residual is added
  instead. One decision per call covers the whole batch (CFG's uncond + cond halves together), so with batched
  prompts a video can depend on its batch mates; the app and the guard generate one prompt per call.
- **Regional `torch.compile`**: each `CogVideoXBlock` compiled in place (`block.compile()`), the recipe of diffusers'
  `compile_repeated_blocks`, which CogVideoX does not declare `_repeated_blocks` for in diffusers 0.42.1. The blocks
  share their code, so one compiled graph serves all of them.

What we leave out: PyramidAttentionBroadcast and FasterCache skip on fixed timestep ranges that are tuned for 50-step
CogVideoX and need a per-pipeline timestep callback, while FirstBlockCache adapts to the step count (nano uses 20).
The attention backend: PyTorch's SDPA already picks flash attention for bf16 on Hopper; flash-attn 3 and Sage need
packages we do not ship. fp8/int8 through torchao: torchao is not a dependency, and it would change the numbers
a second time on top of the cache.

Offload: the cache goes on before the memory mode (`load_pipelines` does it in this order), so diffusers' group
offloading hooks wrap the cache's and move every block's weights as without it; skipping changes computation only.
Compilation runs only in the modes that move whole modules (`none`, `model_offload`): under `sequential_offload` and
`group_offload` the weights are copied in inside each block's forward, i.e. inside the compiled region.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Literal

import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.hooks import FirstBlockCacheConfig
from diffusers.hooks.group_offloading import _is_group_offload_enabled


FastMode = Literal["off", "on"]
FAST_MODES: tuple[str, ...] = ("off", "on")  # the CLI's and the app's choices
CacheType = Literal["first_block", "none"]
CACHE_TYPES: tuple[str, ...] = ("first_block", "none")
COMPILE_MEMORY_MODES: tuple[str, ...] = ("none", "model_offload")  # whole-module placement only (docstring)

# Chosen on training wordings only (benchmarks/fast_guard.py --select, benchmarks/results/fast_threshold.json): the
# largest candidate whose exact-vs-fast PSNR and verdict agreement on nano kept the margins written in that script.
DEFAULT_THRESHOLD = 0.1


@dataclass(frozen=True)
class FastSettings:
    """What `fast="on"` turns on; every field is our choice (the module docstring says why)."""

    cache: CacheType = "first_block"
    """Step cache on each DiT: `"first_block"` (diffusers' FirstBlockCache) or `"none"`."""

    threshold: float = DEFAULT_THRESHOLD
    """FirstBlockCache's threshold: the first block's residual may change by this fraction (mean absolute difference
    over mean absolute value) before the other blocks run again. Higher skips more and drifts more. Our choice, made
    on training wordings (see DEFAULT_THRESHOLD)."""

    compile: bool = False
    """`torch.compile` each transformer block in place (regional compilation). Our choice: on CUDA only; on the CPU
    inductor builds C++ kernels for minutes on two cores for a nano DiT whose steps take milliseconds."""

    def check(self, memory: str = "none") -> "FastSettings":
        """Refuse unknown values and combinations that cannot work, naming the values."""
        if self.cache not in CACHE_TYPES:
            raise ValueError(f"cache must be one of {CACHE_TYPES}, got {self.cache!r}")
        if self.cache == "first_block" and not 0 < self.threshold < 1:
            raise ValueError(f"threshold must be in (0, 1) for cache='first_block', got {self.threshold!r}")
        if self.compile and memory not in COMPILE_MEMORY_MODES:
            raise ValueError(
                f"compile=True with memory={memory!r}: compilation runs only with memory in {COMPILE_MEMORY_MODES} "
                "(the other modes copy weights in inside the compiled blocks)"
            )
        return self

    @classmethod
    def for_pipelines(cls, device: str | torch.device, memory: str = "none") -> "FastSettings":
        """What `fast="on"` means where the pipelines run: the cache always, compilation on CUDA in the modes that
        allow it."""
        return cls(compile=torch.device(device).type == "cuda" and memory in COMPILE_MEMORY_MODES)


def check_fast(fast: str) -> str:
    """Refuse a value of the user-facing switch that is not one of FAST_MODES."""
    if fast not in FAST_MODES:
        raise ValueError(f"fast must be one of {FAST_MODES}, got {fast!r}")
    return fast


def _transformers(pipelines: Iterable) -> list[CogVideoXTransformer3DModel]:
    """The pipelines' DiTs, each once (an untrained nano preset shares one DiT between CogVideoX and Mimir)."""
    unique: dict[int, CogVideoXTransformer3DModel] = {}
    for pipe in pipelines:
        unique.setdefault(id(pipe.transformer), pipe.transformer)
    return list(unique.values())


def apply_fast(pipelines: Iterable, settings: FastSettings, memory: str = "none") -> None:
    """Put `settings` on the DiT of every pipeline (each DiT once). Call it before the memory mode is installed:
    group offloading must wrap the cache, not the reverse (the module docstring says why)."""
    settings.check(memory)
    transformers = _transformers(pipelines)
    for transformer in transformers:
        blocks = transformer.transformer_blocks  # (num_layers,) CogVideoXBlock
        if _is_group_offload_enabled(transformer):
            raise ValueError("apply_fast after group offloading: the cache must go on before the memory mode")
        if settings.cache == "first_block":
            if len(blocks) < 2:
                raise ValueError(
                    f"cache='first_block' needs a DiT of at least 2 transformer blocks (a first block and the rest), "
                    f"this one has {len(blocks)}"
                )
            transformer.enable_cache(FirstBlockCacheConfig(threshold=settings.threshold))
        if settings.compile:
            for block in blocks:
                block.compile()


@dataclass
class BlockCount:
    """Transformer-block forwards that ran, against denoiser calls x blocks (what a step cache saves)."""

    denoiser_calls: int = 0
    block_forwards: int = 0
    num_blocks: int = 0

    @property
    def fraction_computed(self) -> float:
        total = self.denoiser_calls * self.num_blocks
        return self.block_forwards / total if total else float("nan")


@contextmanager
def count_block_forwards(transformer: CogVideoXTransformer3DModel) -> Iterator[BlockCount]:
    """Count, while inside, the DiT's calls and the block forwards that really ran. A block's own attention (`attn1`)
    runs only when the block computes; a hook on the block itself would fire for skipped blocks too (the cache
    replaces the block's `forward`, not its `__call__`)."""
    count = BlockCount(num_blocks=len(transformer.transformer_blocks))

    def on_call(*_):
        count.denoiser_calls += 1

    def on_block(*_):
        count.block_forwards += 1

    handles = [transformer.register_forward_pre_hook(on_call)]
    handles += [block.attn1.register_forward_pre_hook(on_block) for block in transformer.transformer_blocks]
    try:
        yield count
    finally:
        for handle in handles:
            handle.remove()


def record_cache_decisions(transformer: CogVideoXTransformer3DModel) -> list[bool]:
    """FirstBlockCache's decisions from now on, one per DiT call (True: the other blocks ran), appended to the list
    returned. Read from the cache's own decision, which runs eagerly (`torch.compiler.disable`), so unlike
    `count_block_forwards` it adds no hook inside compiled blocks: install it before the first (compiling) call."""
    from diffusers.hooks.first_block_cache import _FBC_LEADER_BLOCK_HOOK

    registry = getattr(transformer.transformer_blocks[0], "_diffusers_hook", None)
    hook = registry.get_hook(_FBC_LEADER_BLOCK_HOOK) if registry is not None else None
    if hook is None:
        raise ValueError("record_cache_decisions: the DiT carries no FirstBlockCache (cache='first_block')")
    decisions: list[bool] = []
    decide = hook._should_compute_remaining_blocks

    @torch.compiler.disable
    def recorded(residual: torch.Tensor) -> bool:
        decisions.append(decide(residual))
        return decisions[-1]

    hook._should_compute_remaining_blocks = recorded
    return decisions
