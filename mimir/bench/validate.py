"""Validation of the NanoBench scorer itself: does it agree with the renderer's ground truth, and does it refuse
what it should refuse?

Five conditions per suite (benchmarks/scorer_validation.py publishes them):

- ground_truth: the spec's own render; every applicable check should pass (target >= 98% per dimension).
- degraded: the same render blurred and noised (a stand-in for VAE / diffusion artefacts); target >= 95%.
- degraded_strong: harsher blur and noise plus a colour cast; reported, no target.
- noise: videos of pure noise; the headline should (almost) never pass.
- mismatched: the render of a *different* spec of the same suite, judged against this spec; passes only where
  the two specs happen to agree on what the dimension judges (chance level).
- counterfactual: this spec's render judged against a copy of the spec whose judged property is altered (other
  shape, colour, count, relation, direction, step order, event, lighting); should be ~0%.
"""

import copy
from typing import Any

import numpy as np
from scipy import ndimage

from mimir.bench.scorer import score_video
from mimir.bench.suite import spec_seed
from mimir.world import vocab
from mimir.world.spec import SceneSpec


_OPPOSITE = {
    "left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above",
    "left": "right", "right": "left", "up": "down", "down": "up",
    "appear": "disappear", "disappear": "appear", "brightens": "darkens", "darkens": "brightens",
}  # fmt: skip


def degrade(
    video: np.ndarray, rng: np.random.Generator, blur_sigma: float = 0.7, noise_std: float = 0.04
) -> np.ndarray:
    """Mild spatial gaussian blur and additive gaussian noise on a video (F, H, W, 3) float -> same shape."""
    blurred = ndimage.gaussian_filter(video, sigma=(0, blur_sigma, blur_sigma, 0))
    return np.clip(blurred + rng.normal(0.0, noise_std, video.shape), 0.0, 1.0).astype(np.float32)


def degrade_strong(video: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A harsher stand-in for a generator's artefacts on (F, H, W, 3): blur 1 px, noise 0.06, and a colour cast
    (per-channel gain 0.85-1.0 and offset +-0.06, one per video), as a VAE that shifts colours would."""
    gain = rng.uniform(0.85, 1.0, 3)
    offset = rng.uniform(-0.06, 0.06, 3)
    return degrade(np.clip(video * gain + offset, 0.0, 1.0), rng, blur_sigma=1.0, noise_std=0.06)


def noise_video(rng: np.random.Generator, F: int, H: int, W: int) -> np.ndarray:
    """A video (F, H, W, 3) of noise: alternately white noise and smooth colour blobs (noise blurred by 2 px,
    contrast-stretched), the latter being the harder case since it makes object-sized components."""
    raw = rng.uniform(0.0, 1.0, (F, H, W, 3))
    if rng.random() < 0.5:
        return raw.astype(np.float32)
    smooth = ndimage.gaussian_filter(raw, sigma=(0, 2, 2, 0))
    smooth = (smooth - smooth.mean()) / (smooth.std() + 1e-6) * 0.25 + 0.5
    return np.clip(smooth, 0.0, 1.0).astype(np.float32)


def counterfactual(spec: SceneSpec) -> SceneSpec:
    """A copy of `spec` whose property judged by its dimension is altered, so the original render must fail it."""
    alt = copy.deepcopy(spec)
    alt.id = spec.id + "-counterfactual"
    o0 = alt.objects[0]
    dim = spec.dimension
    if dim == "object_class":
        used = {(o.shape, o.color) for o in spec.objects}
        o0.shape = next(s for s in vocab.SHAPES if s != o0.shape and (s, o0.color) not in used)
    elif dim == "color":
        used_colors = {o.color for o in spec.objects}
        o0.color = next(c for c in vocab.COLORS if c not in used_colors)
    elif dim == "count":
        o0.count = o0.count + 1 if o0.count < vocab.MAX_COUNT else o0.count - 1
    elif dim == "multiple_objects":
        used_colors = {o.color for o in spec.objects}
        alt.objects[1].color = next(c for c in vocab.COLORS if c not in used_colors)
    elif dim == "spatial_relationship":
        alt.relation = _OPPOSITE[spec.relation]
    elif dim == "motion":
        alt.motion[0].direction = _OPPOSITE[spec.motion[0].direction]
    elif dim == "temporal_order":
        alt.motion = alt.motion[::-1]  # the same two moves in the other order
    elif dim == "appearance":
        alt.event.event = _OPPOSITE[spec.event.event]
    elif dim == "lighting":
        alt.lighting = _OPPOSITE[spec.lighting]
    return alt


def validate_suite(
    specs: list[SceneSpec], render_fn, seed: int = 0, num_frames: int = 9, height: int = 64, width: int = 64
) -> dict[str, Any]:
    """Run the five conditions on one suite. `render_fn(specs, seeds) -> (B, F, H, W, 3)` array (the world's
    renderer). Returns pass rates per condition, per-check agreement on ground truth and the failing ids."""
    rng = np.random.default_rng(seed)
    videos = np.asarray(render_fn(specs, [spec_seed(s) for s in specs]))  # (B, F, H, W, 3)
    n = len(specs)
    others = (np.arange(n) + rng.integers(1, n, size=n)) % n if n > 1 else np.zeros(n, dtype=int)

    gt = [score_video(v, s) for v, s in zip(videos, specs)]
    deg = [score_video(degrade(v, rng), s) for v, s in zip(videos, specs)]
    strong = [score_video(degrade_strong(v, rng), s) for v, s in zip(videos, specs)]
    noise = [score_video(noise_video(rng, num_frames, height, width), s) for s in specs]
    mism = [score_video(videos[j], s) for j, s in zip(others, specs)]
    cf = [score_video(v, counterfactual(s)) for v, s in zip(videos, specs)]

    check_names = sorted({k for r in gt for k in r["checks"]})
    per_check = {k: float(np.mean([r["checks"][k] for r in gt if k in r["checks"]])) for k in check_names}

    def rate(results: list[dict]) -> float:
        return float(np.mean([r["pass"] for r in results]))

    return {
        "n": n,
        "ground_truth": rate(gt),
        "ground_truth_all_checks": float(np.mean([all(r["checks"].values()) for r in gt])),
        "degraded": rate(deg),
        "degraded_strong": rate(strong),
        "noise": rate(noise),
        "mismatched": rate(mism),
        "counterfactual": rate(cf),
        "per_check_ground_truth": per_check,
        "quality_ground_truth": {k: float(np.mean([r["quality"][k] for r in gt])) for k in gt[0]["quality"]},
        "failures": {
            "ground_truth": [r["id"] for r in gt if not r["pass"]],
            "degraded": [r["id"] for r in deg if not r["pass"]],
            "degraded_strong": [r["id"] for r in strong if not r["pass"]],
            "counterfactual_passed": [r["id"] for r in cf if r["pass"]],
        },
    }
