"""ZeroGPU glue: on a Hugging Face ZeroGPU Space, GPU work runs inside `@spaces.GPU` functions; elsewhere the
package is absent and the decorator does nothing.

ZeroGPU wraps plain module-level functions, so the two model-running calls live here as functions, and each pair
asks for the GPU time its preset, memory mode and settings need (mimir/gpu_time.py): a short call is not refused for
a long one's duration, and a slow mode is not cut off.
"""

from __future__ import annotations

from collections.abc import Callable

from mimir import tokens
from mimir.generation import GenerationResult, GenerationSettings, StepProgress, compare
from mimir.gpu_time import pair_seconds


try:
    import spaces
except ImportError:
    spaces = None

# The text models' forward passes and the sampled answers of panel b: seconds even for Phi-3.5 (our margin).
TOKEN_SPACE_SECONDS = 60


def gpu(duration: int | Callable[..., int]) -> Callable[[Callable], Callable]:
    """`@spaces.GPU(duration=...)` on ZeroGPU; a no-op everywhere else. `duration`: seconds, or a function of the
    decorated function's arguments that returns them (ZeroGPU calls it before granting the GPU)."""
    return (lambda fn: fn) if spaces is None else spaces.GPU(duration=duration)


def on_zero_gpu() -> bool:
    """Whether this process runs on a ZeroGPU Space (the `spaces` package says so in its config)."""
    config = getattr(getattr(spaces, "config", None), "Config", None)
    return bool(getattr(config, "zero_gpu", False))


def check_memory_for_space(memory: str, zero_gpu: bool) -> None:
    """ZeroGPU lends a GPU only inside `@spaces.GPU` calls; the main process loads the models and may only move them
    to "cuda". `group_offload` creates its CUDA streams and pins host memory when it is installed, at start-up."""
    if zero_gpu and memory == "group_offload":
        raise ValueError(
            "memory='group_offload' cannot run on a ZeroGPU Space: it needs CUDA at start-up (streams, pinned host "
            "memory); use none or model_offload there"
        )


def compare_seconds(pipes, settings: GenerationSettings, progress: StepProgress | None = None) -> int:
    """The GPU time `run_compare` asks for."""
    return pair_seconds(pipes.preset, pipes.memory, settings)


@gpu(duration=compare_seconds)
def run_compare(
    pipes, settings: GenerationSettings, progress: StepProgress | None = None
) -> dict[str, GenerationResult]:
    """Both videos of already validated `settings` (`Studio.settings` checked them once)."""
    return compare(pipes, settings, progress, validated=True)


run_token_space = gpu(duration=TOKEN_SPACE_SECONDS)(tokens.token_space)
