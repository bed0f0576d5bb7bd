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

- **float8 matmuls** (`fast="fp8"` only): the DiT blocks' attention and feed-forward linear layers quantized by
  torchao's `Float8DynamicActivationFloat8WeightConfig`, with a scale per row for bf16 DiTs and per tensor for fp32
  ones (weights once, activations at each call): the recipe of diffusers' torchao benchmarks (fp8 + compile 75 s
  against bf16 112 s per CogVideoX-5B video on an H100). It needs a CUDA GPU of compute capability >= 8.9 (Ada,
  Hopper) and torchao, which the CPU install leaves out (`pip install torchao`); memory mode `none` only (offloading
  would move the quantized tensors). It changes the numbers on top of the cache, so it is a choice apart from `"on"`,
  with its own guard run.

What we leave out: PyramidAttentionBroadcast and FasterCache skip on fixed timestep ranges that are tuned for 50-step
CogVideoX and need a per-pipeline timestep callback, while FirstBlockCache adapts to the step count (nano uses 20).
The attention backend: PyTorch's SDPA already picks flash attention for bf16 on Hopper; flash-attn 3 and Sage need
packages we do not ship. int8 through torchao: float8 is the faster of the two on the GPUs that have it.

Offload: the cache goes on before the memory mode (`load_pipelines` does it in this order), so diffusers' group
offloading hooks wrap the cache's and move every block's weights as without it; skipping changes computation only.
Compilation runs only in the modes that move whole modules (`none`, `model_offload`): under `sequential_offload` and
`group_offload` the weights are copied in inside each block's forward, i.e. inside the compiled region.
"""

import importlib.util
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterable, Iterator, Literal

import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.hooks import FirstBlockCacheConfig
from diffusers.hooks.group_offloading import _is_group_offload_enabled


FastMode = Literal["off", "on", "fp8"]
FAST_MODES: tuple[str, ...] = ("off", "on", "fp8")  # the CLI's and the app's choices; "fp8" = "on" + float8 matmuls
CacheType = Literal["first_block", "none"]
CACHE_TYPES: tuple[str, ...] = ("first_block", "none")
COMPILE_MEMORY_MODES: tuple[str, ...] = ("none", "model_offload")  # whole-module placement only (docstring)
FLOAT8_MEMORY_MODES: tuple[str, ...] = ("none",)  # the quantized weights stay where they were made
FLOAT8_MIN_CAPABILITY = (8, 9)  # float8 tensor cores: Ada and Hopper onwards
FLOAT8_SUBMODULES = ("attn1", "ff")  # in each CogVideoXBlock: q/k/v/out and the MLP; the norms' small linears stay

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

    float8: bool = False
    """The DiT blocks' attention and feed-forward linears in float8 (torchao; the module docstring says which and
    why). Our choice: only when asked for with `fast="fp8"`, on CUDA of compute capability >= 8.9, memory `none`."""

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
        if self.float8 and memory not in FLOAT8_MEMORY_MODES:
            raise ValueError(
                f"float8=True (fast='fp8') with memory={memory!r}: float8 runs only with memory in "
                f"{FLOAT8_MEMORY_MODES} (offloading would move the quantized weights)"
            )
        return self

    @classmethod
    def for_pipelines(cls, device: str | torch.device, memory: str = "none", fast: FastMode = "on") -> "FastSettings":
        """What `fast="on"` means where the pipelines run: the cache always, compilation on CUDA in the modes that
        allow it; `fast="fp8"` adds the float8 matmuls."""
        compile = torch.device(device).type == "cuda" and memory in COMPILE_MEMORY_MODES
        return cls(compile=compile, float8=fast == "fp8")


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


def check_float8_device(device: str | torch.device | None) -> torch.device:
    """Refuse float8 off a CUDA GPU of compute capability >= 8.9, or without torchao, naming what is there."""
    device = torch.device(device if device is not None else "cpu")
    if device.type != "cuda":
        raise ValueError(f"fast='fp8' needs a CUDA GPU of compute capability >= 8.9 (Ada, Hopper), got {device}")
    capability = torch.cuda.get_device_capability(device)
    if capability < FLOAT8_MIN_CAPABILITY:
        raise ValueError(
            f"fast='fp8' needs compute capability >= {FLOAT8_MIN_CAPABILITY}; {torch.cuda.get_device_name(device)} "
            f"({device}) has {capability}"
        )
    if importlib.util.find_spec("torchao") is None:
        raise ValueError("fast='fp8' needs torchao, which the CPU install leaves out: pip install torchao")
    return device


def float8_layer(module: torch.nn.Module, name: str) -> bool:
    """torchao's filter: the linears of each block's attention and feed-forward (FLOAT8_SUBMODULES) whose sizes
    float8 matmuls take (multiples of 16)."""
    parts = name.split(".")  # e.g. transformer_blocks.3.attn1.to_q, relative to the DiT
    return (
        isinstance(module, torch.nn.Linear)
        and len(parts) > 2
        and parts[0] == "transformer_blocks"
        and parts[2] in FLOAT8_SUBMODULES
        and module.in_features % 16 == 0
        and module.out_features % 16 == 0
    )


def float8_scaling(dtype: torch.dtype) -> Literal["row", "tensor"]:
    """A scale per row for bf16 weights (the finer one); one per tensor otherwise: PyTorch's row-wise scaled matmul
    writes bf16 only, and nano's DiT computes in fp32."""
    return "row" if dtype == torch.bfloat16 else "tensor"


def quantize_float8(transformer: CogVideoXTransformer3DModel, device: torch.device) -> None:
    """The float8 layers of `transformer` quantized in place on `device` (torchao; scales by `float8_scaling`)."""
    from torchao.quantization import Float8DynamicActivationFloat8WeightConfig, PerRow, PerTensor, quantize_

    granularity = PerRow() if float8_scaling(transformer.dtype) == "row" else PerTensor()
    # set_inductor_config=False: torchao's default turns on inductor's coordinate-descent autotuning for the whole
    # process, which kept the 5B Mimir DiT's first compiled call tuning kernels for minutes on an H200
    # (benchmarks/RESULTS.md, "fast='fp8' on the GPU")
    config = Float8DynamicActivationFloat8WeightConfig(granularity=granularity, set_inductor_config=False)
    quantize_(transformer, config, filter_fn=float8_layer, device=device)


def apply_fast(
    pipelines: Iterable, settings: FastSettings, memory: str = "none", device: str | torch.device | None = None
) -> None:
    """Put `settings` on the DiT of every pipeline (each DiT once). Call it before the memory mode is installed:
    group offloading must wrap the cache, not the reverse (the module docstring says why). `device`: where the
    float8 weights are made (float8 only)."""
    settings.check(memory)
    if settings.float8:
        device = check_float8_device(device)
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
        if settings.float8:  # before compilation, which then traces the float8 matmuls
            quantize_float8(transformer, device)
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
