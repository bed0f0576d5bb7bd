"""Clip filters of the training data, the paper's kind (Mimir trains on filtered clips; it does not publish the
thresholds, so every default below is our choice and off unless set): minimum length, aspect ratio, black frames,
brightness, plus a hook for learned scorers (aesthetics, watermarks) that this package does not ship.

A filter reads the frames that would be trained on (after frame sampling, before resizing) and the source's size, and
returns the reason a clip is rejected, or None. The reasons are the keys counted in the run's data report.
"""

import importlib
from dataclasses import dataclass, field
from typing import Callable

import torch


# Scorer: (frames (F, H, W, 3) uint8, caption) -> score; a clip passes when score >= the scorer's minimum.
Scorer = Callable[[torch.Tensor, str], float]


@dataclass(frozen=True)
class ScorerSpec:
    """A learned scorer named on the command line as `MODULE:FUNCTION:MIN_SCORE` (e.g. an aesthetic predictor, or
    `1 - p(watermark)` for a watermark detector)."""

    name: str
    function: Scorer = field(repr=False)  # `name` says which; a function's repr holds its address, not stable
    min_score: float = 0.0

    @classmethod
    def parse(cls, text: str) -> "ScorerSpec":
        parts = text.rsplit(":", 2)
        if len(parts) != 3:
            raise ValueError(f"--scorer {text!r}: expected MODULE:FUNCTION:MIN_SCORE, e.g. my_scores:aesthetic:4.5")
        module, function, minimum = parts
        try:
            min_score = float(minimum)
        except ValueError:
            raise ValueError(f"--scorer {text!r}: MIN_SCORE {minimum!r} is not a number") from None
        try:
            fn = getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as error:
            raise ValueError(f"--scorer {text!r}: cannot import {function!r} from {module!r} ({error})") from None
        return cls(name=f"{module}:{function}", function=fn, min_score=min_score)


@dataclass(frozen=True)
class ClipFilter:
    """Which clips train. Each threshold is off when None.

    Attributes:
        min_seconds: the source's duration (container metadata) must reach this.
        min_aspect, max_aspect: width / height of the source must lie in [min_aspect, max_aspect].
        black_level: a frame whose mean luma (0..255, BT.601) is below this counts as black.
        max_black_frame_ratio: the share of black frames among the sampled frames may not exceed this.
        min_brightness, max_brightness: bounds on the mean luma (0..255) of the sampled frames.
        scorers: learned scorers; each must give at least its `min_score`.
    """

    min_seconds: float | None = None
    min_aspect: float | None = None
    max_aspect: float | None = None
    black_level: float = 16.0
    max_black_frame_ratio: float | None = None
    min_brightness: float | None = None
    max_brightness: float | None = None
    scorers: tuple[ScorerSpec, ...] = field(default_factory=tuple)

    def __post_init__(self):
        for name in ("min_seconds", "min_aspect", "max_aspect", "min_brightness", "max_brightness"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name}={value} must be >= 0")
        if self.max_black_frame_ratio is not None and not 0 <= self.max_black_frame_ratio <= 1:
            raise ValueError(f"max_black_frame_ratio={self.max_black_frame_ratio} must lie in [0, 1]")
        if self.min_aspect is not None and self.max_aspect is not None and self.min_aspect > self.max_aspect:
            raise ValueError(f"min_aspect={self.min_aspect} is above max_aspect={self.max_aspect}")

    def reject(self, frames: torch.Tensor, seconds: float | None, caption: str) -> str | None:
        """The reason to drop a clip, or None to keep it. frames: (F, H, W, 3) uint8 as decoded."""
        F, H, W, _ = frames.shape
        if self.min_seconds is not None and seconds is not None and seconds < self.min_seconds:
            return "too_short"
        aspect = W / H
        if (self.min_aspect is not None and aspect < self.min_aspect) or (
            self.max_aspect is not None and aspect > self.max_aspect
        ):
            return "aspect_ratio"
        luma = frame_luma(frames)  # (F,)
        if self.max_black_frame_ratio is not None:
            if (luma < self.black_level).float().mean().item() > self.max_black_frame_ratio:
                return "black_frames"
        brightness = luma.mean().item()
        if (self.min_brightness is not None and brightness < self.min_brightness) or (
            self.max_brightness is not None and brightness > self.max_brightness
        ):
            return "brightness"
        for scorer in self.scorers:
            if float(scorer.function(frames, caption)) < scorer.min_score:
                return f"score:{scorer.name}"
        return None


def frame_luma(frames: torch.Tensor) -> torch.Tensor:
    """Mean BT.601 luma of each frame, 0..255. frames: (F, H, W, 3) uint8 -> (F,)."""
    weights = torch.tensor([0.299, 0.587, 0.114])
    return (frames.float() * weights).sum(-1).mean(dim=(1, 2))  # (F, H, W) -> (F,)
