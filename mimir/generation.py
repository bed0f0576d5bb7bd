"""One generation with its settings, seconds and peak memory; the CogVideoX-vs-Mimir comparison on one seed."""

import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np
import torch

from .loading import StudioPipelines
from .memory import PeakMemory  # noqa: F401  (tests import it from here too)
from .pair import MODELS
from .pipeline import MimirPipeline
from .video import check_seed, make_generator, to_uint8


# (model, step, total): called after each denoising step, e.g. to drive a progress bar labelled "Mimir 12/20". It may
# raise GenerationCancelled to stop the generation there (diffusers' callback_on_step_end runs it between steps).
StepProgress = Callable[[str, int, int], None]


class GenerationCancelled(RuntimeError):
    """Raised by a progress callback when nobody waits for the result any more (the request was cancelled)."""


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

    def validate(self, *pipes: MimirPipeline) -> "GenerationSettings":
        """Refuse these settings before any model runs: the seed here, every other rule by each pipeline's own
        `check_inputs` (the one place that knows them). Raises ValueError naming the value and the rule."""
        check_seed(self.seed)
        for pipe in pipes:
            pipe.check_inputs(
                self.prompt,
                self.height,
                self.width,
                self.negative_prompt,
                ["latents"],
                num_frames=self.num_frames,
                num_inference_steps=self.num_inference_steps,
                guidance_scale=self.guidance_scale,
            )
        return self

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class GenerationResult:
    model: str
    frames: np.ndarray  # (F, H, W, 3) uint8
    seconds: float  # denoising + decoding, text encoding included
    peak_memory_bytes: int  # the peak of this call only; what is measured is `peak_memory_kind`
    peak_memory_kind: str  # "CUDA allocated" on a GPU, "process RSS" on the CPU
    settings: GenerationSettings


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


def _step_callback(model: str, total: int, progress: StepProgress) -> Callable:
    """A diffusers `callback_on_step_end` that reports (model, step, total) and changes nothing."""

    def callback(pipe: MimirPipeline, step: int, timestep: torch.Tensor, callback_kwargs: dict) -> dict:
        progress(model, step + 1, total)
        return {}

    return callback


def generate(
    pipe: MimirPipeline,
    settings: GenerationSettings,
    model: str = "mimir",
    latents: torch.Tensor | None = None,
    progress: StepProgress | None = None,
) -> GenerationResult:
    """Run one pipeline on `settings`, which the caller has validated (`GenerationSettings.validate`); frames come
    back as uint8 (F, H, W, 3). `progress(model, step, total)` after each step.

    The prompt is encoded here and handed to the pipeline as `prompt_embeds` (the Sana pipeline's pattern), so the
    pipeline's own `check_inputs` sees embeddings and does not tokenize the prompt a second time.
    """
    device = pipe._execution_device
    latents = initial_latents(pipe, settings) if latents is None else latents
    callback = None if progress is None else _step_callback(model, settings.num_inference_steps, progress)
    start = time.perf_counter()  # text encoding included in the seconds, as before
    with PeakMemory(device) as memory:
        prompt_embeds, negative_prompt_embeds = pipe.encode_prompt(
            settings.prompt, settings.negative_prompt or None, do_classifier_free_guidance=settings.guidance_scale > 1
        )  # (1, n + k, D) each; the negative is None without CFG
        out = pipe(
            prompt_embeds=prompt_embeds,
            negative_prompt_embeds=negative_prompt_embeds,
            num_frames=settings.num_frames,
            height=settings.height,
            width=settings.width,
            num_inference_steps=settings.num_inference_steps,
            guidance_scale=settings.guidance_scale,
            generator=make_generator(settings.seed),
            latents=latents.to(device=device, dtype=pipe.transformer.dtype),
            output_type="np",
            callback_on_step_end=callback,
        )
    seconds = time.perf_counter() - start
    return GenerationResult(model, to_uint8(out.frames[0]), seconds, memory.peak_bytes, memory.kind, settings)


def compare(
    pipes: StudioPipelines,
    settings: GenerationSettings,
    progress: StepProgress | None = None,
    validated: bool = False,
) -> dict[str, GenerationResult]:
    """CogVideoX and Mimir on the same prompt, seed and initial latents.

    Both pipelines check the settings before either runs (a prompt that only Mimir's LLM branch cannot take must not
    cost a CogVideoX generation first), unless the caller already did (`validated`: the studio checks every request
    once, at its entrance).
    """
    if not validated:
        settings.validate(*(pipes.pipeline(name) for name in MODELS))
    latents = initial_latents(pipes.mimir, settings)
    return {name: generate(pipes.pipeline(name), settings, name, latents, progress) for name in MODELS}
