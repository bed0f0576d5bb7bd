"""How many GPU seconds a CogVideoX + Mimir pair needs, for ZeroGPU's `@spaces.GPU(duration=...)`.

ZeroGPU grants a call the duration it asks for, if the visitor's quota holds it, and stops it when it runs over. A
fixed duration is wrong both ways: too long and quick calls are refused to visitors whose quota is short, too short
and slow modes are cut off mid-video. So the app asks for what this estimate says the call needs.

The cost model is fitted to nothing: it is the H200 figures measured at CogVideoX-5B's true shapes
(`benchmarks/RESULTS.md`, "The 5B preset at true shapes"; 49 frames at 480x720, guidance on, VAE tiling), per
memory mode and per pipeline call: seconds per denoising step, and the fixed part (text encoding, onloads, the
first step's extra and the VAE decode). Other sizes scale with the latent volume r = (frames x height x width) /
(49 x 480 x 720): linearly below the measured size, quadratically above it (attention grows with the square of the
token count; linear scaling there would under-ask).
"""

from dataclasses import dataclass

from .generation import GenerationSettings
from .presets import NANO_FAMILIES


@dataclass(frozen=True)
class ModeCost:
    step_seconds: float  # one denoising step, CFG batch of 2, at the reference size
    fixed_seconds: float  # per call: text encoding + onloads + VAE decode, at the reference size


REFERENCE_VOLUME = 49 * 480 * 720
# From benchmarks/results/full_scale_*.json (H200, 2026-11-30): the slower of our CogVideoX and Mimir per cell;
# fixed = time to first step - one step + VAE decode.
FIVE_B_COSTS: dict[str, ModeCost] = {
    "none": ModeCost(step_seconds=1.78, fixed_seconds=5.0),
    "model_offload": ModeCost(step_seconds=1.79, fixed_seconds=22.8),
    "group_offload": ModeCost(step_seconds=1.85, fixed_seconds=9.1),
    "sequential_offload": ModeCost(step_seconds=3.46, fixed_seconds=13.4),
}
# Our choices: a margin for a GPU slower than the H200 measured and for the first call's warm-up; ZeroGPU's own
# granularity makes asking for less than NANO_SECONDS pointless (a nano pair takes well under a second on a GPU).
SAFETY = 1.5
OVERHEAD_SECONDS = 10.0
NANO_SECONDS = 30
NANO_PRESETS = {family.preset for family in NANO_FAMILIES.values()}  # nano and nano-v2: seconds either way


def scale(volume_ratio: float) -> float:
    return volume_ratio if volume_ratio <= 1.0 else volume_ratio**2


def pair_seconds(preset: str, memory: str, settings: GenerationSettings) -> int:
    """GPU seconds to ask for one CogVideoX + Mimir pair of `settings` under `memory` (rounded up)."""
    if preset in NANO_PRESETS:
        return NANO_SECONDS
    if memory not in FIVE_B_COSTS:
        raise ValueError(f"memory={memory!r}: no GPU-time figures; known modes {tuple(FIVE_B_COSTS)}")
    cost = FIVE_B_COSTS[memory]
    r = scale(settings.num_frames * settings.height * settings.width / REFERENCE_VOLUME)
    one_call = cost.fixed_seconds * r + settings.num_inference_steps * cost.step_seconds * r
    return int(SAFETY * 2 * one_call + OVERHEAD_SECONDS + 0.999)


def check_budget(seconds: int, max_seconds: int | None) -> None:
    """Refuse, before any GPU is asked for, a call that would need more than the Space allows."""
    if max_seconds is not None and seconds > max_seconds:
        raise ValueError(
            f"these settings need about {seconds} s of GPU time for the two videos, over this Space's limit of "
            f"{max_seconds} s: use fewer steps or frames, or a smaller size"
        )
