"""The nano world's renderer: scene specs -> ground-truth videos, batched in torch.

Two stages. `render_layout` decides *where* things are (numpy, per spec, cheap): per copy of each object a
centre per frame and a visible flag, and the background colour per frame; it is the ground truth that tests and
NanoBench check against. `render` rasterises a batch of layouts with pure tensor ops (signed distance fields,
one soft edge pixel of anti-aliasing), so it runs on GPU inside a training loop.

Design choices (ours):

- every copy is a solid flat `vocab.COLORS` shape with a bounding box of side `SIZE_FRAC * min(H, W)`
  (14 px at 64x64), big enough to survive the tiny VAE; all shapes of a scene have the same size.
- shapes: circle (disc), square (axis-aligned), triangle (apex up, base down), cross (plus sign, arms one third
  of the box wide). Their pixel masks differ by at least a fifth of the box area pairwise.
- copies never overlap: bounding boxes keep a gap of `GAP_FRAC * size` at every frame (Chebyshev distance).
- everything stays inside the frame with a margin (`MARGIN_FRAC * min(H, W)`) at every frame.
- spatial relations: object 0's copies all lie in a band on one side, object 1's in a band on the other side;
  the centroids differ by at least a quarter of the frame along the relation axis, and across it by at most
  `ACROSS_FRAC` (0.4) of that.
- motion: the clip is split into as many equal segments as there are steps (1 for `motion`, 2 for
  `temporal_order`); in its segment the object moves linearly by `MOVE_FRAC` (0.40-0.50, one step) or
  0.30-0.36 (each of two steps) of the frame, all copies together, and stands still outside it.
- appearance: the object is absent in the first third of the frames (appear), or in the last third (disappear).
- lighting: the background ramps linearly from `BACKGROUND_DARK` to `BACKGROUND_BRIGHT` (brightens) or back;
  otherwise it is the constant `BACKGROUND`.
- randomness (positions, travel lengths) comes from `numpy.random.default_rng(seed)` only, so a (spec, seed)
  pair gives the same video on any device.
"""

from dataclasses import dataclass

import numpy as np
import torch

from mimir.world import vocab
from mimir.world.spec import SceneSpec


SIZE_FRAC = 0.22  # bounding-box side / min(H, W)
GAP_FRAC = 0.25  # minimum gap between two copies' boxes / size
MARGIN_FRAC = 0.02  # minimum gap between a box and the frame border / min(H, W)
MOVE_FRAC = (0.40, 0.50)  # travel of a single motion step / frame extent along the direction
MOVE_FRAC_TWO_STEPS = (0.30, 0.36)  # travel of each of two steps (temporal_order)
# spatial relations: centroid offset across the relation axis / offset along it; below 1/2 so that pixel centroids
# (a triangle's lies below its box centre) still read clearly as the relation
ACROSS_FRAC = 0.4
_TRIES = 400

_SHAPE_IDS = {s: i for i, s in enumerate(vocab.SHAPES)}
_DIR_VECTORS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}  # image y is down


@dataclass
class Layout:
    """Per-frame ground truth of one scene; K = total number of copies over all objects, F = frames.

    Coordinates are pixels, x to the right, y downwards, pixel (i, j) has its centre at (j + 0.5, i + 0.5).
    """

    shapes: list[str]  # (K,) shape of each copy
    colors: list[str]  # (K,) colour name of each copy
    object_index: list[int]  # (K,) index into spec.objects
    centers: np.ndarray  # (F, K, 2) float: x, y of each copy's centre
    size: float  # side of every copy's bounding box, pixels
    visible: np.ndarray  # (F, K) bool
    background: np.ndarray  # (F, 3) float in [0, 1]

    def object_centroid(self, i: int, frame: int) -> np.ndarray:
        """Mean centre (x, y) of object i's copies at `frame`, visible or not."""
        idx = [k for k, o in enumerate(self.object_index) if o == i]
        return self.centers[frame, idx].mean(axis=0)


def _rgb(c: tuple[int, int, int]) -> np.ndarray:
    return np.asarray(c, dtype=np.float64) / 255.0


def _relative_paths(spec: SceneSpec, rng: np.random.Generator, F: int, H: int, W: int) -> np.ndarray:
    """Displacement of each object from its start position, per frame: (n_objects, F, 2)."""
    paths = np.zeros((len(spec.objects), F, 2))
    steps = spec.motion or []
    S = len(steps)
    tau = np.arange(F) / max(F - 1, 1)  # (F,) clip time in [0, 1]
    lo, hi = MOVE_FRAC if S == 1 else MOVE_FRAC_TWO_STEPS
    for s, step in enumerate(steps):
        dx, dy = _DIR_VECTORS[step.direction]
        extent = W if dx else H
        length = rng.uniform(lo, hi) * extent
        progress = np.clip((tau - s / S) * S, 0.0, 1.0)  # (F,) 0 before the segment, 1 after it
        paths[step.object] += progress[:, None] * length * np.array([dx, dy])[None]
    return paths


def _visibility(spec: SceneSpec, F: int, object_index: list[int]) -> np.ndarray:
    visible = np.ones((F, len(object_index)), dtype=bool)
    if spec.event is not None:
        third = int(np.ceil(F / 3))
        frames = np.arange(F)
        shown = frames >= third if spec.event.event == "appear" else frames < F - third  # (F,)
        for k, o in enumerate(object_index):
            if o == spec.event.object:
                visible[:, k] = shown
    return visible


def _background(spec: SceneSpec, F: int) -> np.ndarray:
    if spec.lighting is None:
        return np.repeat(_rgb(vocab.BACKGROUND)[None], F, axis=0)
    start, end = _rgb(vocab.BACKGROUND_DARK), _rgb(vocab.BACKGROUND_BRIGHT)
    if spec.lighting == "darkens":
        start, end = end, start
    tau = np.arange(F)[:, None] / max(F - 1, 1)  # (F, 1)
    return start[None] * (1 - tau) + end[None] * tau  # (F, 3)


def _relation_axis(relation: str) -> int:
    return 0 if relation in ("left_of", "right_of") else 1


def _band(
    spec: SceneSpec, i: int, lo: np.ndarray, hi: np.ndarray, split: float, gap: float
) -> tuple[np.ndarray, np.ndarray]:
    """Start-centre box of object i; for a spatial relation each object gets the band on its side of `split`."""
    box_lo, box_hi = lo.copy(), hi.copy()
    if spec.relation is None:
        return box_lo, box_hi
    axis = _relation_axis(spec.relation)
    # object 0 is on the low side for left_of / above (smaller x / smaller y)
    if (i == 0) == (spec.relation in ("left_of", "above")):
        box_hi[axis] = split - gap / 2
    else:
        box_lo[axis] = split + gap / 2
    return box_lo, box_hi


def render_layout(spec: SceneSpec, seed: int, num_frames: int = 9, height: int = 64, width: int = 64) -> Layout:
    """Place every copy of every object of `spec` for each frame; deterministic given (spec, seed)."""
    F, H, W = num_frames, height, width
    rng = np.random.default_rng(seed)
    size = SIZE_FRAC * min(H, W)
    lo = size / 2 + MARGIN_FRAC * min(H, W)
    min_dist = size * (1 + GAP_FRAC)  # Chebyshev distance between centres: boxes apart by GAP_FRAC * size

    paths = _relative_paths(spec, rng, F, H, W)  # (n_objects, F, 2)
    object_index = [i for i, o in enumerate(spec.objects) for _ in range(o.count)]
    K = len(object_index)
    lo, hi = np.array([lo, lo]), np.array([W - lo, H - lo])

    best, best_score = None, np.inf
    for _ in range(_TRIES):
        # spatial relations: a random split line with a box-free gap, so every copy of one object is on its side
        split = 0.0
        if spec.relation is not None:
            axis = _relation_axis(spec.relation)
            split = rng.uniform(lo[axis] + min_dist / 2, hi[axis] - min_dist / 2)
        starts = _place(spec, rng, paths, object_index, lo, hi, split, min_dist)
        if starts is None:
            continue
        score = _relation_score(spec, starts, object_index, (W, H))
        if score < best_score:
            best, best_score = starts, score
        if score <= 0:
            break
    if best is None or best_score > 0:
        raise ValueError(
            f"spec {spec.id!r}: found no layout of its {K} copies in a {W}x{H} frame without overlap"
            + ("" if spec.relation is None else f" that shows {spec.relation!r} clearly")
        )

    centers = best[None] + paths[object_index].transpose(1, 0, 2)  # (F, K, 2)
    return Layout(
        shapes=[spec.objects[i].shape for i in object_index],
        colors=[spec.objects[i].color for i in object_index],
        object_index=object_index,
        centers=centers,
        size=size,
        visible=_visibility(spec, F, object_index),
        background=_background(spec, F),
    )


def _place(
    spec: SceneSpec,
    rng: np.random.Generator,
    paths: np.ndarray,
    object_index: list[int],
    lo: np.ndarray,
    hi: np.ndarray,
    split: float,
    min_dist: float,
) -> np.ndarray | None:
    """Start centres (K, 2) of all copies, placed one by one so that no two trajectories come closer than
    `min_dist` (Chebyshev) at any frame and every trajectory stays in [lo, hi]; None when a copy finds no room."""
    K = len(object_index)
    starts = np.zeros((K, 2))
    for k, i in enumerate(object_index):
        box_lo, box_hi = _band(spec, i, lo, hi, split, min_dist)
        # shift the box so the whole path (F, 2) stays inside it
        s_lo, s_hi = box_lo - paths[i].min(axis=0), box_hi - paths[i].max(axis=0)
        if np.any(s_lo > s_hi):
            return None
        prev = starts[:k, None] + paths[object_index[:k]]  # (k, F, 2)
        for _ in range(50):
            cand = rng.uniform(s_lo, s_hi)  # (2,)
            traj = cand[None] + paths[i]  # (F, 2)
            if k == 0 or np.abs(prev - traj[None]).max(axis=2).min() >= min_dist:
                starts[k] = cand
                break
        else:
            return None
    return starts


def _relation_score(spec: SceneSpec, starts: np.ndarray, object_index: list[int], frame: tuple[int, int]) -> float:
    """How far a layout is from the relation rule (<= 0: fine): the centroids lie at least a quarter of the frame
    apart along the relation axis, and across it at most `ACROSS_FRAC` as far as along it."""
    if spec.relation is None:
        return 0.0
    idx = np.asarray(object_index)
    delta = np.abs(starts[idx == 0].mean(axis=0) - starts[idx == 1].mean(axis=0))  # (2,)
    axis = _relation_axis(spec.relation)
    return max(frame[axis] / 4 - delta[axis], delta[1 - axis] - ACROSS_FRAC * delta[axis])


def _sdf(shape_id: int, dx: torch.Tensor, dy: torch.Tensor, r: float) -> torch.Tensor:
    """Signed distance (pixels, < 0 inside) of a shape of half-size r centred at the origin."""
    if shape_id == _SHAPE_IDS["circle"]:
        return torch.sqrt(dx * dx + dy * dy) - r
    if shape_id == _SHAPE_IDS["square"]:
        return torch.maximum(dx.abs(), dy.abs()) - r
    if shape_id == _SHAPE_IDS["triangle"]:
        # apex (0, -r), base corners (+-r, r); the side normals are (+-2, -1) / sqrt(5) (y down)
        side = (2 * dx.abs() - dy - r) / 5**0.5
        return torch.maximum(side, dy - r)
    # cross: union of a horizontal and a vertical bar, each 2r long and 2r/3 wide
    w = r / 3
    horizontal = torch.maximum(dx.abs() - r, dy.abs() - w)
    vertical = torch.maximum(dx.abs() - w, dy.abs() - r)
    return torch.minimum(horizontal, vertical)


def render(
    specs: list[SceneSpec],
    seeds: list[int],
    num_frames: int = 9,
    height: int = 64,
    width: int = 64,
    device: str | torch.device = "cpu",
) -> torch.Tensor:
    """Render ground-truth videos: (B, F, H, W, 3) float32 in [0, 1]; B = len(specs)."""
    if len(specs) != len(seeds):
        raise ValueError(f"len(specs)={len(specs)} != len(seeds)={len(seeds)}")
    B, F, H, W = len(specs), num_frames, height, width
    layouts = [render_layout(s, seed, F, H, W) for s, seed in zip(specs, seeds)]
    K = max(len(lay.shapes) for lay in layouts)

    # pack layouts into padded arrays; padded copies are never visible
    centers = np.zeros((B, K, F, 2), dtype=np.float32)
    visible = np.zeros((B, K, F), dtype=np.float32)
    colors = np.zeros((B, K, 3), dtype=np.float32)
    shape_ids = np.full((B, K), -1, dtype=np.int64)
    background = np.stack([lay.background for lay in layouts]).astype(np.float32)  # (B, F, 3)
    for b, lay in enumerate(layouts):
        n = len(lay.shapes)
        centers[b, :n] = lay.centers.transpose(1, 0, 2)
        visible[b, :n] = lay.visible.T
        colors[b, :n] = [_rgb(vocab.COLORS[c]) for c in lay.colors]
        shape_ids[b, :n] = [_SHAPE_IDS[s] for s in lay.shapes]
    r = layouts[0].size / 2

    to = dict(device=device, dtype=torch.float32)
    centers_t = torch.from_numpy(centers).to(device).flatten(0, 1)  # (B*K, F, 2)
    xs = torch.arange(W, **to) + 0.5  # (W,) pixel centres
    ys = torch.arange(H, **to) + 0.5  # (H,)

    # coverage of every copy, computed per shape only for the copies of that shape
    alpha = torch.zeros(B * K, F, H, W, **to)  # (B*K, F, H, W)
    flat_ids = shape_ids.reshape(-1)
    for shape_id in range(len(vocab.SHAPES)):
        sel = np.nonzero(flat_ids == shape_id)[0]
        if len(sel) == 0:
            continue
        c = centers_t[torch.from_numpy(sel).to(device)]  # (N, F, 2)
        dx = xs[None, None, None, :] - c[..., 0, None, None]  # (N, F, 1, W)
        dy = ys[None, None, :, None] - c[..., 1, None, None]  # (N, F, H, 1)
        # a one-pixel linear ramp across the edge: cheap anti-aliasing, exact colour inside
        alpha[sel] = (0.5 - _sdf(shape_id, dx, dy, r)).clamp(0.0, 1.0)
    alpha = alpha.view(B, K, F, H, W) * torch.from_numpy(visible).to(device)[..., None, None]

    # painter's order over copies; copies only touch while moving past each other
    video = torch.from_numpy(background).to(device)[:, :, None, None, :].expand(B, F, H, W, 3).clone()
    colors_t = torch.from_numpy(colors).to(device)  # (B, K, 3)
    for k in range(K):
        a = alpha[:, k, ..., None]  # (B, F, H, W, 1)
        video = video + a * (colors_t[:, k, None, None, None, :] - video)
    return video.clamp_(0.0, 1.0)
