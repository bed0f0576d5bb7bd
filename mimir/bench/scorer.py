"""NanoBench scorer: one video + its scene spec -> verdicts per check, the headline verdict, quality figures.

`score_video` is the only entry point. The headline `pass` is the verdict of the check named like the spec's
`dimension`; the other applicable checks are reported alongside. Quality figures follow the
spirit of VBench's (background consistency, temporal flickering, imaging quality) but are classical measures on
the nano world, each in [0, 1], higher is better.
"""

from typing import Any

import numpy as np

from mimir.bench import checks
from mimir.bench.detect import FrameDetections, detect_video, to_float_frames
from mimir.world.spec import SceneSpec


# checks that apply to every spec; the others apply when the spec carries the field they judge
ALWAYS = ("object_class", "color", "count", "multiple_objects")


def applicable_checks(spec: SceneSpec) -> list[str]:
    """Names of the checks that judge `spec`, in a fixed order (dimension names of vocab.DIMENSIONS)."""
    names = list(ALWAYS)
    if spec.relation is not None:
        names.append("spatial_relationship")
    if spec.motion is not None:
        names.append("motion" if len(spec.motion) == 1 else "temporal_order")
    if spec.event is not None:
        names.append("appearance")
    if spec.lighting is not None:
        names.append("lighting")
    return names


def score_video(frames: np.ndarray, spec: SceneSpec) -> dict[str, Any]:
    """Judge one video against its spec.

    frames: (F, H, W, 3), float in [0, 1] or uint8. Returns
    `{"id", "dimension", "pass": bool, "checks": {name: bool}, "quality": {name: float}, "details": {...}}`.
    """
    video = to_float_frames(frames)  # (F, H, W, 3)
    F, H, W, _ = video.shape
    dets = detect_video(video)
    ok = np.array([checks.plausible(fd, spec, H * W) for fd in dets])  # (F,) frames worth judging

    verdicts: dict[str, bool] = {}
    details: dict[str, Any] = {"plausible_frames": int(ok.sum()), "frames": F}
    for name in applicable_checks(spec):
        if name == "object_class":
            v, d = checks.check_object_class(dets, ok, spec)
        elif name == "color":
            v, d = checks.check_color(dets, ok, spec)
        elif name == "count":
            v, d = checks.check_count(dets, ok, spec)
        elif name == "multiple_objects":
            v, d = checks.check_multiple_objects(dets, ok, spec)
        elif name == "spatial_relationship":
            v, d = checks.check_spatial_relationship(dets, ok, spec, W, H)
        elif name in ("motion", "temporal_order"):
            v, d = checks.check_motion(dets, ok, spec, W, H)
        elif name == "appearance":
            v, d = checks.check_appearance(dets, ok, spec)
        else:  # lighting
            v, d = checks.check_lighting(dets, spec)
        verdicts[name] = bool(v)
        details.update(d)

    return {
        "id": spec.id,
        "dimension": spec.dimension,
        "pass": verdicts[spec.dimension],
        "checks": verdicts,
        "quality": quality(video, dets),
        "details": details,
    }


def quality(video: np.ndarray, dets: list[FrameDetections]) -> dict[str, float]:
    """Quality figures of a video (F, H, W, 3) float, each in [0, 1], higher is better.

    - background_consistency: 1 - mean |frame_t - frame_{t-1}| over pixels that are background in both frames
      (VBench compares CLIP features of frames; the nano background is flat, so pixels suffice). A lighting
      ramp lowers it a little, by design of the scene, not of the model.
    - temporal_flicker: 1 - mean |frame_{t+1} - 2 frame_t + frame_{t-1}| over pixels that are background in all
      three frames: the second difference ignores smooth change (a lighting ramp) and keeps frame-to-frame jitter.
    - imaging_quality: mean over detections of colour purity x shape-template match, times the share of
      foreground pixels that belong to objects rather than speckles: how clean the drawn shapes are.
    """
    F = video.shape[0]
    bg = np.stack([fd.background_mask for fd in dets])  # (F, H, W)
    if F > 1:
        both = bg[1:] & bg[:-1]  # (F-1, H, W)
        diff = np.abs(video[1:] - video[:-1]).mean(-1)  # (F-1, H, W)
        consistency = 1.0 - float(diff[both].mean()) if both.any() else 0.0
    else:
        consistency = 1.0
    if F > 2:
        three = bg[2:] & bg[1:-1] & bg[:-2]  # (F-2, H, W)
        second = np.abs(video[2:] - 2 * video[1:-1] + video[:-2]).mean(-1)  # (F-2, H, W)
        flicker = 1.0 - float(second[three].mean()) if three.any() else 0.0
    else:
        flicker = 1.0
    cleanliness = [d.purity * d.shape_score for fd in dets for d in fd.objects]
    object_pixels = sum(d.area for fd in dets for d in fd.objects)
    noise_pixels = sum(fd.noise_pixels for fd in dets)
    speckle_free = object_pixels / max(object_pixels + noise_pixels, 1)
    imaging = float(np.mean(cleanliness)) * speckle_free if cleanliness else 0.0
    return {
        "background_consistency": round(consistency, 4),
        "temporal_flicker": round(flicker, 4),
        "imaging_quality": round(imaging, 4),
    }
