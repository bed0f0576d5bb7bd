"""NanoBench-Comp: exact verdicts on world-v2 videos in the seven categories of T2V-CompBench.

`score_any(frames, spec)` judges one video: a v2 spec by the verdict of its category (below), a v1 spec by v1's
`score_video`, unchanged. Every verdict reads the video through `mimir.bench.comp_detect` (never the renderer's
layout) and mirrors the renderer's timings (`mimir.world.v2.render`): dynamic attributes are read in the first and
last thirds, interactions in the two halves, motions over the whole clip. Thresholds are ours, each a fraction of
what the renderer draws, so blur and small colour shifts do not flip a verdict:

- consistent_attribute_binding: every object is seen with its own shape, colour and size in `HOLD_SHARE` of the
  frames (swapped attributes fail: no red circle is there);
- dynamic_attribute_binding: every object (named by its shape) has its start colour and size in most of the first
  third and its end colour and size in most of the last third (a reversed change fails);
- spatial_relationships: v1's centroid rule between objects 0 and 1, majority of frames;
- motion_binding: every object's robust (Theil-Sen) travel over the clip goes its own way, at least
  `MIN_TRAVEL_FRAC` of the frame and more along than across; an object without a motion travels less than
  `STILL_FRAC` (motions swapped between objects fail);
- action_binding: per object four detectors fire or not (spin: turned `MIN_SPIN_DEGREES`, never for an outline
  read as a circle; bounce: rose
  `MIN_BOUNCE_FRAC` of the frame and came back; pulse: area ratio `MIN_PULSE_RATIO` and back; blink: shown and hidden
  at least `MIN_BLINK_TOGGLES` times); the verdict wants exactly the object's own action to fire (none for none);
- object_interactions: the two objects' outlines touch (come within `CONTACT_PX` pixels) in some frame,
  and the halves move as the kind says: push, the patient still and the agent approaching in the first half, the
  patient carried the push's way in the second; collide, both approaching in the first half and both going apart in
  the second (an interaction without contact fails);
- generative_numeracy: per kind (shape, colour), the most common per-frame count equals the spec's; a negation
  (`exclude`) also wants no copy of the excluded kind in most frames, and when it excludes a colour of the one shape
  all objects share ("five circles, none of them red") the copies of that shape are counted over all colours.
"""

from collections import Counter
from typing import Any

import numpy as np
from scipy import ndimage, stats

from mimir.bench.checks import thirds
from mimir.bench.comp_detect import N_ANGLES, Blob, FrameBlobs, detect_video, signature_distance
from mimir.bench.detect import to_float_frames
from mimir.bench.scorer import quality, score_video
from mimir.world.v2 import vocab
from mimir.world.v2.spec import AnySpec, SceneSpec, is_v1


MAX_EXTRA_DETECTIONS = 2  # as in v1: a frame with more detections beyond the spec's copies is not judged
MAX_NOISE_FRACTION = 0.03
HOLD_SHARE = 0.75
MIN_TRAVEL_FRAC = 0.1
STILL_FRAC = 0.04
MIN_SPIN_DEGREES = 90.0  # the renderer turns 200-250 degrees
MAX_SPIN_STEP = 6  # bins a shape may turn between two frames (34 degrees; the renderer turns up to 16)
MIN_BOUNCE_FRAC = 0.07  # the renderer hops 0.16 of the frame
MIN_PULSE_RATIO = 1.4  # the renderer's area ratio is 1.45 ** 2 = 2.1
MIN_BLINK_TOGGLES = 3  # the renderer toggles 5 times in 17 frames
MIN_PUSH_FRAC = 0.08  # interactions: travel per half / W (the renderer moves 0.14-0.2)
MIN_APPROACH_FRAC = 0.03  # collide: each object's own travel per half / W (the renderer moves 0.09-0.13)


def size_class(radius: float, H: int, W: int) -> str:
    """'small' or 'large' from an estimated half-size: the boundary is the geometric mean of the two sizes."""
    small, large = (vocab.SIZE_FRACS[s] * min(H, W) / 2 for s in ("small", "large"))
    return "small" if radius < (small * large) ** 0.5 else "large"


def plausible(fb: FrameBlobs, spec: SceneSpec, frame_area: int) -> bool:
    copies = sum(o.count for o in spec.objects)
    return len(fb.objects) <= copies + MAX_EXTRA_DETECTIONS and fb.noise_pixels <= MAX_NOISE_FRACTION * frame_area


def find(fb: FrameBlobs, shape: str | None = None, color: str | None = None) -> list[Blob]:
    return [b for b in fb.objects if shape in (None, b.shape) and color in (None, b.color)]


def _largest(blobs: list[Blob]) -> Blob | None:
    return max(blobs, key=lambda b: b.area) if blobs else None


def _track(dets, ok, shape: str, color: str | None) -> list[Blob | None]:
    """Per frame the largest blob of a shape (and colour), None where absent or the frame is implausible."""
    return [_largest(find(fb, shape, color)) if ok[t] else None for t, fb in enumerate(dets)]


def _track_by_color(dets, ok, shape: str, color: str) -> list[Blob | None]:
    """Per frame the largest blob of that shape and colour, else the largest of that colour."""
    return [_largest(find(fb, shape, color) or find(fb, None, color)) if ok[t] else None for t, fb in enumerate(dets)]


def _majority(flags: list[bool]) -> bool:
    return len(flags) > 0 and sum(flags) * 2 > len(flags)


def _travel(track: list[Blob | None], frames: np.ndarray) -> np.ndarray | None:
    """Theil-Sen displacement (dx, dy) over `frames` of a track; None when found in under half of them."""
    ts = [t for t in frames if track[t] is not None]
    if len(ts) < max(2, (len(frames) + 1) // 2):
        return None
    xs = np.array([[track[t].cx, track[t].cy] for t in ts])  # (n, 2)
    span = float(frames[-1] - frames[0])
    return np.array([stats.theilslopes(xs[:, k], ts)[0] * span for k in range(2)])


# ---------------------------------------------------------------------------------------------------------------
# the seven verdicts: (dets, ok, spec, H, W) -> (verdict, details)


def check_consistent(dets, ok, spec: SceneSpec, H: int, W: int) -> tuple[bool, dict]:
    shares = []
    for o in spec.objects:
        flags = [
            bool(ok[t]) and any(size_class(b.radius, H, W) == o.size for b in find(fb, o.shape, o.color))
            for t, fb in enumerate(dets)
        ]
        shares.append(sum(flags) / len(flags))
    return all(s >= HOLD_SHARE for s in shares), {"held_share": [round(s, 3) for s in shares]}


def check_dynamic(dets, ok, spec: SceneSpec, H: int, W: int) -> tuple[bool, dict]:
    first, last = thirds(len(dets))
    verdicts, seen = [], []
    for o in spec.objects:
        track = _track(dets, ok, o.shape, None)
        ends = []
        for frames, color, size in (
            (first, o.color, o.size),
            (last, o.color_end or o.color, o.size_end or o.size),
        ):
            flags = [
                track[t] is not None and track[t].color == color and size_class(track[t].radius, H, W) == size
                for t in frames
            ]
            ends.append(_majority(flags))
        verdicts.append(all(ends))
        seen.append(
            [Counter((b.color, size_class(b.radius, H, W)) for t in fr if (b := track[t])).most_common(1)
             for fr in (first, last)]
        )  # fmt: skip
    return all(verdicts), {"start_end_seen": seen}


def check_spatial(dets, ok, spec: SceneSpec, H: int, W: int) -> tuple[bool, dict]:
    axis = 0 if spec.relation in ("left_of", "right_of") else 1
    sign = -1.0 if spec.relation in ("left_of", "above") else 1.0
    a_track = _track(dets, ok, spec.objects[0].shape, spec.objects[0].color)
    b_track = _track(dets, ok, spec.objects[1].shape, spec.objects[1].color)
    flags = []
    for a, b in zip(a_track, b_track):
        if a is None or b is None:
            flags.append(False)
            continue
        delta = np.array([a.cx - b.cx, a.cy - b.cy])
        along, across = sign * delta[axis], abs(delta[1 - axis])
        flags.append(bool(along > 0.05 * (W, H)[axis] and along > across))
    return _majority(flags), {"relation_share": round(sum(flags) / len(flags), 3)}


_DIRS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}


def check_motion_binding(dets, ok, spec: SceneSpec, H: int, W: int) -> tuple[bool, dict]:
    frames = np.arange(len(dets))
    verdicts, travels = [], []
    for o in spec.objects:
        delta = _travel(_track(dets, ok, o.shape, o.color), frames)
        travels.append(None if delta is None else [round(float(v), 1) for v in delta])
        if delta is None:
            verdicts.append(False)
        elif o.motion is None:
            verdicts.append(bool(np.abs(delta).max() < STILL_FRAC * min(H, W)))
        else:
            ux, uy = _DIRS[o.motion]
            along = delta[0] * ux + delta[1] * uy
            across = abs(delta[0] * uy) + abs(delta[1] * ux)
            verdicts.append(bool(along >= MIN_TRAVEL_FRAC * (W if ux else H) and along > across))
    return all(verdicts), {"travel": travels}


def actions_seen(track: list[Blob | None], H: int) -> dict[str, float]:
    """The four action detectors' measures on one object's track (see the module doc for the thresholds)."""
    present = [b is not None for b in track]
    toggles = sum(present[t] != present[t - 1] for t in range(1, len(track)))
    found = [b for b in track if b is not None]
    out = {"toggles": float(toggles), "turn_degrees": 0.0, "hop": 0.0, "area_ratio": 1.0}
    if len(found) < 3:
        return out
    ys = np.array([b.cy for b in found])
    areas = np.array([b.area for b in found], dtype=float)
    # a hop: up and back down, the ends at one height
    out["hop"] = float(ys.max() - ys.min()) if abs(ys[-1] - ys[0]) < 0.5 * (ys.max() - ys.min()) else 0.0
    # a pulse: grows and comes back to its size
    ratio = areas.max() / areas.min()
    out["area_ratio"] = float(ratio) if abs(areas[-1] / areas[0] - 1) < 0.3 else 1.0
    turn = 0
    for t in range(1, len(track)):
        a, b = track[t - 1], track[t]
        # a circle's outline has no angle to follow: under noise its best shift is noise, which can add up
        if a is not None and b is not None and "circle" not in (a.shape, b.shape):
            turn += signature_distance(b.signature, a.signature, MAX_SPIN_STEP)[1]
    out["turn_degrees"] = float(turn * 360.0 / N_ANGLES)
    return out


def fired(measures: dict[str, float], H: int) -> set[str]:
    out = set()
    if abs(measures["turn_degrees"]) >= MIN_SPIN_DEGREES:
        out.add("spin")
    if measures["hop"] >= MIN_BOUNCE_FRAC * H:
        out.add("bounce")
    if measures["area_ratio"] >= MIN_PULSE_RATIO:
        out.add("pulse")
    if measures["toggles"] >= MIN_BLINK_TOGGLES:
        out.add("blink")
    return out


def check_action_binding(dets, ok, spec: SceneSpec, H: int, W: int) -> tuple[bool, dict]:
    verdicts, seen = [], []
    for o in spec.objects:
        track = _track(dets, ok, o.shape, o.color)
        actions = fired(actions_seen(track, H), H)
        seen.append(sorted(actions))
        verdicts.append(actions == ({o.action} if o.action else set()))
    return all(verdicts), {"actions_seen": seen}


CONTACT_PX = 2  # outlines this close (Chebyshev pixels) touch: thin tips fall under half coverage at their end


def touching(a: Blob, b: Blob) -> bool:
    grown = ndimage.binary_dilation(a.mask, structure=np.ones((2 * CONTACT_PX + 1,) * 2))
    return bool((grown & b.mask).any())


def check_interaction(dets, ok, spec: SceneSpec, H: int, W: int) -> tuple[bool, dict]:
    ia, ib = spec.interaction.objects
    oa, ob = spec.objects[ia], spec.objects[ib]
    # touching objects are split by colour, which can bend an outline's shape: the colour names them (the two differ)
    a, b = _track_by_color(dets, ok, oa.shape, oa.color), _track_by_color(dets, ok, ob.shape, ob.color)
    F = len(dets)
    half = F // 2
    halves = np.arange(0, half + 1), np.arange(half, F)
    contact = any(x is not None and y is not None and touching(x, y) for x, y in zip(a, b))
    moves = [[_travel(track, fr) for fr in halves] for track in (a, b)]  # [object][half] -> (dx, dy) or None
    details: dict[str, Any] = {"contact": contact, "dx": [[None if m is None else round(float(m[0]), 1)
                                                           for m in per] for per in moves]}  # fmt: skip
    if any(m is None for per in moves for m in per):
        return False, details
    (a1, a2), (b1, b2) = ((m[0][0], m[1][0]) for m in moves)  # x travel per object and half
    far = MIN_PUSH_FRAC * W
    if spec.interaction.kind == "push":
        d = 1.0 if spec.interaction.direction == "right" else -1.0
        motion = abs(b1) < STILL_FRAC * W and d * a1 >= far and d * b2 >= far
    else:
        start_a = [t for t in range(F) if a[t] is not None][0]
        start_b = [t for t in range(F) if b[t] is not None][0]
        toward = np.sign(b[start_b].cx - a[start_a].cx)  # where b lies as seen from a
        near = MIN_APPROACH_FRAC * W
        motion = toward * a1 >= near and -toward * b1 >= near and -toward * a2 >= near and toward * b2 >= near
    return bool(contact and motion), details


def check_numeracy(dets, ok, spec: SceneSpec, H: int, W: int) -> tuple[bool, dict]:
    frames = [t for t in range(len(dets)) if ok[t]]
    ex = spec.exclude
    # "five circles, none of them red" names no colour of the five: one shape's copies are counted over all colours
    by_shape = ex is not None and ex.shape is not None and all(o.shape == ex.shape for o in spec.objects)
    groups = (
        [(ex.shape, None, sum(o.count for o in spec.objects))]
        if by_shape
        else [(o.shape, o.color, o.count) for o in spec.objects]
    )
    counts = []
    for shape, color, _ in groups:
        per_frame = [len(find(dets[t], shape, color)) for t in frames]
        counts.append(Counter(per_frame).most_common(1)[0][0] if per_frame else 0)
    verdict = 2 * len(frames) > len(dets) and all(c == g[2] for c, g in zip(counts, groups))
    details: dict[str, Any] = {"counts": counts}
    if ex is not None:
        flags = [len(find(dets[t], ex.shape, ex.color)) == 0 for t in frames]
        details["excluded_absent_share"] = round(sum(flags) / max(len(flags), 1), 3)
        verdict = verdict and _majority(flags)
    return verdict, details


CHECKS = {
    "consistent_attribute_binding": check_consistent,
    "dynamic_attribute_binding": check_dynamic,
    "spatial_relationships": check_spatial,
    "motion_binding": check_motion_binding,
    "action_binding": check_action_binding,
    "object_interactions": check_interaction,
    "generative_numeracy": check_numeracy,
}


def score_v2(frames: np.ndarray, spec: SceneSpec) -> dict[str, Any]:
    """Judge one video (F, H, W, 3) float in [0, 1] or uint8 against a v2 spec; the result has v1's keys."""
    video = to_float_frames(frames)  # (F, H, W, 3)
    F, H, W, _ = video.shape
    dets = detect_video(video)
    ok = np.array([plausible(fb, spec, H * W) for fb in dets])  # (F,)
    verdict, details = CHECKS[spec.dimension](dets, ok, spec, H, W)
    details.update(plausible_frames=int(ok.sum()), frames=F)
    return {
        "id": spec.id,
        "dimension": spec.dimension,
        "pass": bool(verdict),
        "checks": {spec.dimension: bool(verdict)},
        "quality": quality(video, dets),
        "details": details,
    }


def score_any(frames: np.ndarray, spec: AnySpec) -> dict[str, Any]:
    """NanoBench's verdict for a v1 spec (v1's scorer, unchanged), NanoBench-Comp's for a v2 spec."""
    return score_video(frames, spec) if is_v1(spec) else score_v2(frames, spec)
