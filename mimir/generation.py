"""One generation with its settings, seconds and peak memory; the CogVideoX-vs-Mimir comparison on one seed."""

import resource
import sys
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from .pipeline import MimirPipeline
from .presets import StudioPipelines
from .video import check_seed, make_generator, to_uint8


@dataclass
class GenerationSettings:
    """The call arguments of one generation, under diffusers' names."""

    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    num_frames: int = 9
    height: int = 64
    width: int = 64
    num_inference_steps: int = 20
    guidance_scale: float = 4.0

    def validate(self, limits: dict | None = None) -> "GenerationSettings":
        """Raise ValueError naming the value and the rule; `limits` is `StudioPipelines.limits`."""
        if not isinstance(self.prompt, str) or not self.prompt.strip():
            raise ValueError(f"prompt must be non-empty text, got {self.prompt!r}")
        if not isinstance(self.negative_prompt, str):
            raise ValueError(f"negative_prompt must be text, got {self.negative_prompt!r}")
        check_seed(self.seed)
        if limits:
            for name in ("num_frames", "height", "width"):
                value = getattr(self, name)
                if value not in limits[name]:
                    raise ValueError(f"{name}={value!r} is not supported: allowed values are {limits[name]}")
            for name in ("num_inference_steps", "guidance_scale"):
                lo, hi = limits[name]
                value = getattr(self, name)
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not lo <= value <= hi:
                    raise ValueError(f"{name}={value!r} must be in [{lo}, {hi}]")
            if int(self.num_inference_steps) != self.num_inference_steps:
                raise ValueError(f"num_inference_steps={self.num_inference_steps!r} must be an integer")
        return self

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class GenerationResult:
    model: str
    frames: np.ndarray  # (F, H, W, 3) uint8
    seconds: float  # denoising + decoding, text encoding included
    peak_memory_bytes: int  # CUDA peak on a GPU; process peak RSS on the CPU
    settings: GenerationSettings


def _peak_memory(device: torch.device) -> int:
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    # ru_maxrss is the process's lifetime peak (KiB on Linux, bytes on macOS): an upper bound for this call.
    scale = 1 if sys.platform == "darwin" else 1024
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale)


def initial_latents(pipe: MimirPipeline, settings: GenerationSettings) -> torch.Tensor:
    """The seed's starting noise (1, F_latent, C, h, w), drawn on the CPU exactly as the pipeline would draw it."""
    shape = (
        1,
        (settings.num_frames - 1) // pipe.vae_scale_factor_temporal + 1,
        pipe.transformer.config.in_channels,
        settings.height // pipe.vae_scale_factor_spatial,
        settings.width // pipe.vae_scale_factor_spatial,
    )
    return torch.randn(shape, generator=make_generator(settings.seed), dtype=torch.float32)


def generate(
    pipe: MimirPipeline,
    settings: GenerationSettings,
    model: str = "mimir",
    latents: torch.Tensor | None = None,
    callback_on_step_end: Callable | None = None,
) -> GenerationResult:
    """Run one pipeline; frames come back as uint8 (F, H, W, 3)."""
    device = pipe._execution_device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    latents = initial_latents(pipe, settings) if latents is None else latents
    start = time.perf_counter()
    out = pipe(
        prompt=settings.prompt,
        negative_prompt=settings.negative_prompt or None,
        num_frames=settings.num_frames,
        height=settings.height,
        width=settings.width,
        num_inference_steps=int(settings.num_inference_steps),
        guidance_scale=float(settings.guidance_scale),
        generator=make_generator(settings.seed),
        latents=latents.to(device=device, dtype=pipe.transformer.dtype),
        output_type="np",
        callback_on_step_end=callback_on_step_end,
    )
    seconds = time.perf_counter() - start
    return GenerationResult(model, to_uint8(out.frames[0]), seconds, _peak_memory(device), settings)


def compare(
    pipes: StudioPipelines, settings: GenerationSettings, callback_on_step_end: Callable | None = None
) -> dict[str, GenerationResult]:
    """CogVideoX and Mimir on the same prompt, seed and initial latents."""
    settings.validate(pipes.limits)
    latents = initial_latents(pipes.mimir, settings)
    return {
        name: generate(pipes.pipeline(name), settings, name, latents, callback_on_step_end)
        for name in ("cogvideox", "mimir")
    }
