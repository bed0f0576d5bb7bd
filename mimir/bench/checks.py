"""NanoBench checks: one verdict per spec property, from per-frame detections (`mimir.bench.detect`).

Every check is tolerant in time, because generated videos flicker: static properties (shape, colour, count,
presence, relation) are decided by a majority over the frames where the object should be visible, motion by a
robust slope (Theil-Sen) through the object's centroid track, events and lighting by comparing the first and
last thirds of the clip. The timings mirror the renderer's ground truth (`mimir.world.render`): one motion step
spans the clip, two steps split it in halves, an event object is absent for a third of the clip.
"""

from collections import Counter

import numpy as np
from scipy import stats

from mimir.bench.detect import Detection, FrameDetections
from mimir.world.spec import SceneObject, SceneSpec


# A frame is judged at all only if it holds at most this many detections beyond the spec's copies: a noise
# video is a mess of components, and "some red circle exists" must not pass on it. Our choice.
MAX_EXTRA_DETECTIONS = 2
# ... and if at most this share of its pixels are speckles too small to be objects
MAX_NOISE_FRACTION = 0.03
# A motion is seen when the centroid travels this share of the frame along the named direction, and more along
# it than across it. The renderer moves 0.30-0.50 of the frame per step, so a third of the smallest travel.
MIN_TRAVEL_FRAC = 0.1
# Lighting: the background's mean grey level must change by this much (in [0, 1]) between the first and last
# thirds; the renderer ramps it by 0.37.
MIN_LIGHTING_CHANGE = 0.08

_DIRECTIONS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}  # y is down


def thirds(F: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices of the first and last thirds of a clip of F frames (each at least one frame)."""
    k = max(1, int(np.ceil(F / 3)))
    return np.arange(min(k, F)), np.arange(max(F - k, 0), F)


def expected_frames(spec: SceneSpec, i: int, F: int) -> np.ndarray:
    """Frames where object i should be visible: all, except while an event object is absent."""
    if spec.event is None or spec.event.object != i:
        return np.arange(F)
    first, last = thirds(F)
    return last if spec.event.event == "appear" else first


def matches(fd: FrameDetections, spec: SceneSpec, i: int, need_shape: bool = False) -> list[Detection]:
    """Detections of one frame that stand for object i: its colour, and its shape when another object of the
    spec has the same colour (else the two are indistinguishable) or when `need_shape`."""
    obj = spec.objects[i]
    shared = any(o.color == obj.color for j, o in enumerate(spec.objects) if j != i)
    return [d for d in fd.objects if d.color == obj.color and (d.shape == obj.shape or not (shared or need_shape))]


def plausible(fd: FrameDetections, spec: SceneSpec, frame_area: int) -> bool:
    """Whether the frame looks like a scene at all (see MAX_EXTRA_DETECTIONS)."""
    expected = sum(o.count for o in spec.objects)
    return len(fd.objects) <= expected + MAX_EXTRA_DETECTIONS and fd.noise_pixels <= MAX_NOISE_FRACTION * frame_area


def _majority(flags: list[bool]) -> bool:
    return len(flags) > 0 and sum(flags) * 2 > len(flags)


def _per_object(dets: list[FrameDetections], ok: np.ndarray, spec: SceneSpec, test) -> tuple[bool, list[float]]:
    """Majority verdict of `test(frame_detections, i, obj) -> bool` for every object over its expected frames;
    an implausible frame counts as a failure. Returns (all objects pass, per-object share of passing frames)."""
    shares = []
    for i, obj in enumerate(spec.objects):
        frames = expected_frames(spec, i, len(dets))
        flags = [bool(ok[t]) and test(dets[t], i, obj) for t in frames]
        shares.append(sum(flags) / max(len(flags), 1))
    return all(s > 0.5 for s in shares), shares


def check_object_class(dets, ok, spec: SceneSpec) -> tuple[bool, dict]:
    """Every object's shape is seen: a detection of that shape, of the object's colour if one exists, else any
    detection of that shape (so a right shape in a wrong colour still counts as the right class)."""

    def test(fd: FrameDetections, i: int, obj: SceneObject) -> bool:
        own = matches(fd, spec, i)
        pool = own if own else fd.objects
        return any(d.shape == obj.shape for d in pool)

    verdict, shares = _per_object(dets, ok, spec, test)
    return verdict, {"shape_share": shares}


def check_color(dets, ok, spec: SceneSpec) -> tuple[bool, dict]:
    """Every object's colour is seen (any shape)."""
    verdict, shares = _per_object(dets, ok, spec, lambda fd, i, obj: any(d.color == obj.color for d in fd.objects))
    return verdict, {"color_share": shares}


def check_multiple_objects(dets, ok, spec: SceneSpec) -> tuple[bool, dict]:
    """Every object is present with both its shape and its colour (VBench "multiple objects": all present)."""
    verdict, shares = _per_object(dets, ok, spec, lambda fd, i, obj: len(matches(fd, spec, i, need_shape=True)) > 0)
    return verdict, {"present_share": shares}


def check_count(dets, ok, spec: SceneSpec) -> tuple[bool, dict]:
    """Every object has exactly `count` copies: the most common per-frame count of detections of its colour
    (and shape, when colours are shared) over its expected frames. Shape is not required, so a count is judged
    on its own, apart from the object class."""
    counts = []
    for i in range(len(spec.objects)):
        frames = [t for t in expected_frames(spec, i, len(dets)) if ok[t]]
        per_frame = [len(matches(dets[t], spec, i)) for t in frames]
        counts.append(Counter(per_frame).most_common(1)[0][0] if per_frame else 0)
    # a tie or a minority of plausible frames is no evidence
    n_ok = [sum(bool(ok[t]) for t in expected_frames(spec, i, len(dets))) for i in range(len(spec.objects))]
    frames_n = [len(expected_frames(spec, i, len(dets))) for i in range(len(spec.objects))]
    enough = all(k * 2 > n for k, n in zip(n_ok, frames_n))
    verdict = enough and all(c == o.count for c, o in zip(counts, spec.objects))
    return verdict, {"counts": counts}


def centroid(fd: FrameDetections, spec: SceneSpec, i: int) -> np.ndarray | None:
    """Mean centre (x, y) of object i's copies in one frame; prefers colour+shape matches, else colour only."""
    found = matches(fd, spec, i, need_shape=True) or matches(fd, spec, i)
    if not found:
        return None
    return np.array([np.mean([d.cx for d in found]), np.mean([d.cy for d in found])])


def check_spatial_relationship(dets, ok, spec: SceneSpec, width: int, height: int) -> tuple[bool, dict]:
    """Object 0 is `relation` of object 1 in a majority of frames: the centroid offset points the right way and
    is larger along the relation axis than across it (the renderer keeps across <= along / 2)."""
    axis = 0 if spec.relation in ("left_of", "right_of") else 1
    sign = -1.0 if spec.relation in ("left_of", "above") else 1.0  # object 0 at smaller x / smaller y
    flags = []
    for t, fd in enumerate(dets):
        a, b = centroid(fd, spec, 0), centroid(fd, spec, 1)
        if not ok[t] or a is None or b is None:
            flags.append(False)
            continue
        delta = a - b  # (2,) x, y
        along, across = sign * delta[axis], abs(delta[1 - axis])
        flags.append(bool(along > 0.05 * (width, height)[axis] and along > across))
    return _majority(flags), {"relation_share": sum(flags) / len(flags)}


def _track(dets, ok, spec: SceneSpec, i: int, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices (n,) and centroids (n, 2) of object i over `frames`, where it is found."""
    ts, cs = [], []
    for t in frames:
        c = centroid(dets[t], spec, i) if ok[t] else None
        if c is not None:
            ts.append(t)
            cs.append(c)
    return np.asarray(ts, dtype=float), np.asarray(cs).reshape(-1, 2)


def travel(dets, ok, spec: SceneSpec, i: int, frames: np.ndarray) -> np.ndarray | None:
    """Robust displacement (dx, dy) of object i across `frames`: Theil-Sen slope x span; None if it is found in
    fewer than half of them (or fewer than two)."""
    ts, cs = _track(dets, ok, spec, i, frames)
    if len(ts) < max(2, (len(frames) + 1) // 2):
        return None
    span = float(frames[-1] - frames[0])
    return np.array([stats.theilslopes(cs[:, k], ts)[0] * span for k in range(2)])


def _moves(delta: np.ndarray | None, direction: str, width: int, height: int) -> bool:
    if delta is None:
        return False
    ux, uy = _DIRECTIONS[direction]
    along = delta[0] * ux + delta[1] * uy
    across = abs(delta[0] * uy) + abs(delta[1] * ux)
    extent = width if ux else height
    return bool(along >= MIN_TRAVEL_FRAC * extent and along > across)


def motion_segments(F: int, steps: int) -> list[np.ndarray]:
    """Frame indices of each motion step's segment; neighbouring segments share their boundary frame."""
    bounds = np.round(np.linspace(0, F - 1, steps + 1)).astype(int)
    return [np.arange(bounds[s], bounds[s + 1] + 1) for s in range(steps)]


def check_motion(dets, ok, spec: SceneSpec, width: int, height: int) -> tuple[bool, dict]:
    """Each motion step's object travels in its direction during its segment of the clip. With two steps this is
    the temporal order check: the segments are the two halves, so the right moves in the wrong order fail."""
    steps = spec.motion or []
    segments = motion_segments(len(dets), len(steps))
    verdicts, deltas = [], []
    for step, frames in zip(steps, segments):
        delta = travel(dets, ok, spec, step.object, frames)
        verdicts.append(_moves(delta, step.direction, width, height))
        deltas.append(None if delta is None else [round(float(v), 2) for v in delta])
    return bool(steps) and all(verdicts), {"travel": deltas}


def presence(dets, ok, spec: SceneSpec, i: int) -> list[bool]:
    """Per frame: object i is there (its colour, and its shape where the colour is shared)."""
    return [bool(ok[t]) and len(matches(fd, spec, i)) > 0 for t, fd in enumerate(dets)]


def check_appearance(dets, ok, spec: SceneSpec) -> tuple[bool, dict]:
    """The event object is absent in most of one third of the clip and present in most of the other."""
    seen = presence(dets, ok, spec, spec.event.object)
    first, last = thirds(len(dets))
    early = sum(seen[t] for t in first) / len(first)
    late = sum(seen[t] for t in last) / len(last)
    before, after = (early, late) if spec.event.event == "appear" else (late, early)
    # "absent" in a frame may also be an implausible frame; "present" must be plausible by construction
    verdict = before < 0.5 and after > 0.5
    return verdict, {"present_early": round(early, 3), "present_late": round(late, 3)}


def background_levels(dets: list[FrameDetections]) -> np.ndarray:
    """Mean grey level (F,) of each frame's background estimate."""
    return np.array([float(fd.background.mean()) for fd in dets])


def check_lighting(dets, spec: SceneSpec) -> tuple[bool, dict]:
    """The background's grey level rises (brightens) or falls (darkens) from the first to the last third."""
    levels = background_levels(dets)
    first, last = thirds(len(dets))
    change = float(levels[last].mean() - levels[first].mean())
    sign = 1.0 if spec.lighting == "brightens" else -1.0
    return bool(sign * change >= MIN_LIGHTING_CHANGE), {"background_change": round(change, 4)}
