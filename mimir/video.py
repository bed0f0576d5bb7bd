"""Frames -> mp4 / gif (moviepy), and seeding helpers shared by the CLI, the app and the benchmarks."""

from pathlib import Path

import numpy as np
import torch

from .checks import shown


MAX_SEED: int = 2**32 - 1
# Nearest-neighbour upscaling of the clips the app shows: 64x64 nano clips are too small to judge in a browser.
DISPLAY_UPSCALE = 4


def check_seed(seed) -> int:
    """A seed must be an integer in [0, 2**32 - 1] (the range of `torch.Generator.manual_seed` that numpy shares).

    Any number is refused cleanly, with the value shown shortened (`checks.shown`): an integer of 400 digits, inf
    (`is_integer` is False for inf and NaN, so they never reach `int()`, which would raise OverflowError)."""
    value = seed
    if isinstance(seed, float) and seed.is_integer():
        value = int(seed)
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"seed={shown(seed)} must be an integer in [0, {MAX_SEED}]")
    if not 0 <= int(value) <= MAX_SEED:
        raise ValueError(f"seed={shown(seed)} is outside [0, {MAX_SEED}]")
    return int(value)


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A seeded generator. Latents are drawn on the CPU so a seed gives the same video on any device."""
    return torch.Generator(device=device).manual_seed(check_seed(seed))


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """(F, H, W, 3) float in [0, 1] or uint8 -> uint8."""
    if frames.dtype == np.uint8:
        return frames
    return (np.clip(frames, 0.0, 1.0) * 255.0).round().astype(np.uint8)


def _clip(frames: np.ndarray, fps: int, upscale: int):
    # imported here: the seeding helpers above serve machines without moviepy (the GPU benchmarks' bare image)
    from moviepy import ImageSequenceClip

    frames = to_uint8(np.asarray(frames))
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be (F, H, W, 3), got shape {frames.shape}")
    if upscale > 1:
        # Nearest-neighbour upscaling: 64x64 clips are too small for players, and smoothing would blur the shapes.
        frames = frames.repeat(upscale, axis=1).repeat(upscale, axis=2)
    return ImageSequenceClip(list(frames), fps=fps)


def save_mp4(frames: np.ndarray, path: str | Path, fps: int = 8, upscale: int = 1) -> Path:
    """Write (F, H, W, 3) frames as an H.264 mp4 that browsers play (yuv420p needs even sides)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    clip = _clip(frames, fps, upscale)
    clip.write_videofile(str(path), codec="libx264", audio=False, logger=None, ffmpeg_params=["-pix_fmt", "yuv420p"])
    return path


def save_gif(frames: np.ndarray, path: str | Path, fps: int = 8, upscale: int = 1) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    _clip(frames, fps, upscale).write_gif(str(path), fps=fps, logger=None)
    return path
