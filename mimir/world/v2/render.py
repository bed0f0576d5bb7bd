"""World v2's renderer: scene specs -> ground-truth videos (B, F, H, W, 3), batched in torch.

As in v1 (`mimir.world.render`), two stages: `render_layout` decides per copy and frame where it is, how big, how
turned, in which colour and whether it is shown (numpy, per spec, cheap: the ground truth that tests check), and
`render` rasterises a batch of layouts with signed distance fields (one soft edge pixel). A v1 spec in the batch is
rendered by v1's renderer at the same size.

Timings on the clip's time tau = frame / (F - 1) in [0, 1] (ours; NanoBench-Comp reads thirds and halves):

- dynamic attribute: the start value until tau = 1/3, a linear blend over the middle third, the end value after 2/3;
- motion: linear travel over the whole clip of `MOVE_FRACS` of the frame;
- actions: `spin` turns 200-250 degrees at constant speed (either sense); `bounce` hops up `BOUNCE_FRAC` of the
  frame and lands, twice; `pulse` grows to `PULSE_SCALE` times its size and back, twice; `blink` is hidden in frames
  3-5, 9-11, 15-17, ... (three frames shown, three hidden);
- push: the agent reaches the patient at tau = 1/2 (their outlines touch, measured on the two shapes), then both
  move on together; the patient stands still before; collide: both move toward each other, touch at tau = 1/2 and go
  back the way they came; both interactions run horizontally at one height;
- placement: random, so that no two copies come closer than `GAP_FRAC` of a box at any frame (boxes of spinning
  copies are the rotated box's bound) and every copy stays inside the frame; a spatial relation holds as in v1
  (centroids apart at least a quarter of the frame along the axis, across at most `ACROSS_FRAC` of that);
  `arrangement: "row"` puts objects in left-to-right slots in index order.

Randomness comes from `numpy.random.default_rng(seed)` only: a (spec, seed) pair gives the same video anywhere.
`contact=False` (counterfactual renders only) stops an interaction short of touching: everything else is the same.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from mimir.world.render import _SHAPE_IDS as _V1_SHAPE_IDS
from mimir.world.render import ACROSS_FRAC
from mimir.world.render import _sdf as _v1_sdf
from mimir.world.render import render as v1_render
from mimir.world.v2 import vocab
from mimir.world.v2.spec import AnySpec, SceneSpec, is_v1


# Video size of world v2 (one home; the bench CLI and the validation import it). Provisional: chosen for room (four
# large objects or eight small ones move without touching) and 17 = 8 * 2 + 1 frames for CogVideoX's VAE; the
# VAE measurement of colour and shape per object size is left to do (SCHEMA.md).
NUM_FRAMES, HEIGHT, WIDTH = 17, 96, 96
GAP_FRAC = 0.3  # minimum gap between two copies' boxes / the mean box size
MARGIN_FRAC = 0.02  # minimum gap between a box and the frame border / min(H, W)
MOVE_FRACS = (0.30, 0.40)  # travel of a moving object over the clip / frame extent
BOUNCE_FRAC = 0.16  # height of a hop / H
PULSE_SCALE = 1.45  # largest size of a pulse / the object's size
SPIN_DEGREES = (200.0, 250.0)
APPROACH_FRACS = (0.14, 0.2)  # interactions: travel before contact / W
PUSH_ON_FRACS = (0.14, 0.2)  # push: travel of both after contact / W
NO_CONTACT_GAP = 0.4  # counterfactual interactions stop this share of the two half-sizes short
_TRIES = 400

_SHAPE_IDS = {s: i for i, s in enumerate(vocab.SHAPES)}
_DIR_VECTORS = {"left": (-1.0, 0.0), "right": (1.0, 0.0), "up": (0.0, -1.0), "down": (0.0, 1.0)}  # image y is down
STAR_INNER = 0.5  # star: inner radius / outer radius


@dataclass
class Layout:
    """Per-frame ground truth of one scene; K copies over all objects, F frames, pixels (x right, y down)."""

    shapes: list[str]  # (K,)
    object_index: list[int]  # (K,) index into spec.objects
    centers: np.ndarray  # (F, K, 2) x, y of each copy's box centre
    radius: np.ndarray  # (F, K) half the side of each copy's box
    angle: np.ndarray  # (F, K) rotation, radians, clockwise on screen
    colors: np.ndarray  # (F, K, 3) in [0, 1]
    visible: np.ndarray  # (F, K) bool
    background: np.ndarray  # (H, W, 3) in [0, 1], the same in every frame


def rgb(name: str) -> np.ndarray:
    return np.asarray(vocab.COLORS[name], dtype=np.float64) / 255.0


def half_size(size: str, height: int, width: int) -> float:
    return vocab.SIZE_FRACS[size] * min(height, width) / 2


def clip_time(F: int) -> np.ndarray:
    return np.arange(F) / max(F - 1, 1)  # (F,)


def middle_third_ramp(F: int) -> np.ndarray:
    """(F,) 0 in the first third of the clip, 1 in the last, linear in between."""
    return np.clip((clip_time(F) - 1 / 3) * 3, 0.0, 1.0)


def blink_visible(F: int) -> np.ndarray:
    return (np.arange(F) // 3) % 2 == 0  # (F,)


# ---------------------------------------------------------------------------------------------------------------
# backgrounds


def background_image(name: str, rng: np.random.Generator, H: int, W: int) -> np.ndarray:
    """(H, W, 3) in [0, 1]: a vertical gradient from the top to the bottom colour, plus the texture of `name`."""
    top, bottom, texture = vocab.BACKGROUNDS[name]
    t = np.linspace(0.0, 1.0, H)[:, None, None]  # (H, 1, 1)
    img = (np.asarray(top) * (1 - t) + np.asarray(bottom) * t) / 255.0 * np.ones((1, W, 1))  # (H, W, 3)
    img = img * rng.uniform(0.92, 1.08)  # the place's light differs from clip to clip
    if texture == "blades":  # grass: vertical streaks of darker and lighter blades
        cols = ndimage.gaussian_filter1d(rng.normal(0, 1, W), 0.8)  # (W,)
        rows = ndimage.gaussian_filter1d(rng.normal(0, 1, (H, W)), 3.0, axis=0)  # (H, W)
        img = img + (0.035 * cols[None, :] + 0.04 * rows)[..., None] * np.array([0.8, 1.0, 0.6])
    elif texture == "clouds":  # sky: soft light blobs
        blobs = ndimage.gaussian_filter(rng.normal(0, 1, (H, W)), min(H, W) / 10)
        blobs = np.clip(blobs / (blobs.std() + 1e-9), 0, 2.5)
        img = img + 0.04 * blobs[..., None]
    elif texture == "grain":  # sand: ripples and grain
        yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
        phase = rng.uniform(0, 2 * np.pi)
        ripple = np.sin(2 * np.pi * (4 * yy + 0.6 * np.sin(2 * np.pi * xx + phase)))
        img = img + (0.03 * ripple + 0.025 * rng.normal(0, 1, (H, W)))[..., None]
    elif texture == "stars":  # night: dim single-pixel stars
        n = H * W // 120
        ys, xs = rng.integers(0, H, n), rng.integers(0, W, n)
        img[ys, xs] += rng.uniform(0.1, 0.3, (n, 1))
    return np.clip(img, 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# shapes


def sdf(shape: str, x: torch.Tensor, y: torch.Tensor, r: torch.Tensor | float) -> torch.Tensor:
    """Signed distance (pixels, < 0 inside) of an upright shape of half-size r at the origin; y points down."""
    if shape in ("circle", "square", "triangle", "cross"):
        if isinstance(r, torch.Tensor):  # v1's sdf takes a float: scale the coordinates instead
            return _v1_sdf(_V1_SHAPE_IDS[shape], x / r, y / r, 1.0) * r
        return _v1_sdf(_V1_SHAPE_IDS[shape], x, y, r)
    if shape == "star":
        return _star(x / r, -y / r) * r
    # heart: Inigo Quilez's exact heart (y up, tip at 0, lobes to 1.10, half-width 0.60), 1.2 units = the box side
    s = 1.2 / 2
    return _heart(x.abs() / r * s, -y / r * s + 0.55) / s * r


def _star(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Five-pointed star of outer radius 1, a point up (y up): Inigo Quilez's exact sdStar5."""
    k1x, k1y = 0.809016994375, -0.587785252292
    x = x.abs()
    d = torch.clamp(k1x * x + k1y * y, min=0.0)
    x, y = x - 2 * d * k1x, y - 2 * d * k1y
    d = torch.clamp(-k1x * x + k1y * y, min=0.0)
    x, y = x + 2 * d * k1x, y - 2 * d * k1y
    x = x.abs()
    y = y - 1.0
    bax, bay = STAR_INNER * -k1y, STAR_INNER * k1x - 1.0
    h = torch.clamp((x * bax + y * bay) / (bax * bax + bay * bay), 0.0, 1.0)
    dist = torch.sqrt((x - bax * h) ** 2 + (y - bay * h) ** 2)
    return dist * torch.sign(y * bax - x * bay)


def _heart(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """x >= 0 (mirrored), y up, heart tip at the origin."""
    lobe = torch.sqrt((x - 0.25) ** 2 + (y - 0.75) ** 2) - 2**0.5 / 4
    m = torch.clamp(x + y, min=0.0) * 0.5
    inner = torch.sqrt(torch.minimum(x**2 + (y - 1.0) ** 2, (x - m) ** 2 + (y - m) ** 2)) * torch.sign(x - y)
    return torch.where(x + y > 1.0, lobe, inner)


@functools.cache
def half_width_profile(shape: str, n: int = 801) -> tuple[np.ndarray, np.ndarray]:
    """Half-width of an upright shape of half-size 1 at heights y in [-1.2, 1.2]: (ys (n,), half-widths (n,),
    -inf where the row misses the shape). Every shape is mirror-symmetric about its vertical axis."""
    ys = torch.linspace(-1.2, 1.2, n, dtype=torch.float64)
    xs = torch.linspace(0.0, 1.2, 2401, dtype=torch.float64)
    inside = sdf(shape, xs[None, :], ys[:, None], 1.0) <= 0  # (n, 2401)
    widths = torch.where(inside, xs[None, :], torch.tensor(-np.inf, dtype=torch.float64)).max(dim=1).values
    return ys.numpy(), widths.numpy()


def contact_distance(shape_a: str, ra: float, shape_b: str, rb: float) -> float:
    """Horizontal centre distance at which two upright shapes at one height touch (their outlines meet)."""
    ys, wa = half_width_profile(shape_a)
    _, wb = half_width_profile(shape_b)
    y = np.linspace(-1.2 * max(ra, rb), 1.2 * max(ra, rb), 2001)  # pixels
    a = np.interp(y / ra, ys, wa, left=-np.inf, right=-np.inf) * ra
    b = np.interp(y / rb, ys, wb, left=-np.inf, right=-np.inf) * rb
    return float(np.max(a + b))


# ---------------------------------------------------------------------------------------------------------------
# layout


def _object_tracks(spec: SceneSpec, rng: np.random.Generator, F: int, H: int, W: int):
    """Per object, relative to its start: offsets (n, F, 2), half-sizes (n, F), angles (n, F), colours (n, F, 3),
    visibility (n, F)."""
    n = len(spec.objects)
    tau = clip_time(F)
    ramp = middle_third_ramp(F)
    offsets = np.zeros((n, F, 2))
    radius = np.zeros((n, F))
    angle = np.zeros((n, F))
    colors = np.zeros((n, F, 3))
    visible = np.ones((n, F), dtype=bool)
    for i, o in enumerate(spec.objects):
        r0 = half_size(o.size, H, W)
        r1 = half_size(o.size_end, H, W) if o.size_end else r0
        radius[i] = r0 + (r1 - r0) * ramp
        c0 = rgb(o.color)
        c1 = rgb(o.color_end) if o.color_end else c0
        colors[i] = c0[None] * (1 - ramp[:, None]) + c1[None] * ramp[:, None]
        if o.motion is not None:
            dx, dy = _DIR_VECTORS[o.motion]
            length = rng.uniform(*MOVE_FRACS) * (W if dx else H)
            offsets[i] = tau[:, None] * length * np.array([dx, dy])[None]
        if o.action == "spin":
            angle[i] = np.deg2rad(rng.uniform(*SPIN_DEGREES)) * rng.choice([-1.0, 1.0]) * tau
        elif o.action == "bounce":
            offsets[i, :, 1] = -BOUNCE_FRAC * H * np.abs(np.sin(2 * np.pi * tau))
        elif o.action == "pulse":
            radius[i] = r0 * (1 + (PULSE_SCALE - 1) * np.sin(2 * np.pi * tau) ** 2)
        elif o.action == "blink":
            visible[i] = blink_visible(F)
    return offsets, radius, angle, colors, visible


def _interaction_tracks(
    spec: SceneSpec, rng: np.random.Generator, radius: np.ndarray, F: int, W: int, contact: bool
) -> tuple[np.ndarray, float]:
    """Offsets (2, F, 2) of the interaction's two objects relative to the first one's start, and the span
    (pixels) their centres need horizontally. Contact happens at tau = 1/2."""
    a, b = spec.interaction.objects
    sa, sb = spec.objects[a], spec.objects[b]
    ra, rb = radius[a, 0], radius[b, 0]
    touch = contact_distance(sa.shape, ra, sb.shape, rb) * 0.95  # a hair of overlap: the outlines share pixels
    gap = 0.0 if contact else NO_CONTACT_GAP * (ra + rb)
    tau = clip_time(F)
    first = np.clip(tau * 2, 0.0, 1.0)  # (F,) 0 -> 1 over the first half
    second = np.clip(tau * 2 - 1, 0.0, 1.0)  # (F,) 0 -> 1 over the second half
    x = np.zeros((2, F))
    if spec.interaction.kind == "push":
        d = 1.0 if spec.interaction.direction == "right" else -1.0
        approach = rng.uniform(*APPROACH_FRACS) * W
        on = rng.uniform(*PUSH_ON_FRACS) * W
        # patient b starts at x = d * (touch + approach) from a; a reaches it (less a gap) at tau = 1/2
        x[1] = d * (touch + approach) + d * on * second
        x[0] = d * (approach - gap) * first + d * on * second
    else:  # collide: a comes from one side, both move toward each other and go back
        d = rng.choice([-1.0, 1.0])  # where b lies as seen from a
        ta, tb = rng.uniform(*APPROACH_FRACS, size=2) * W / 1.5
        shrink = (ta + tb - gap) / (ta + tb)  # a counterfactual pair stops `gap` short, each by its share
        start_b = d * (touch + ta + tb)
        back = first - second  # 0 -> 1 -> 0
        x[0] = d * ta * shrink * back
        x[1] = start_b - d * tb * shrink * back
    offsets = np.zeros((2, F, 2))
    offsets[:, :, 0] = x
    return offsets, float(x.max() - x.min())


def _bound(shape: str, spinning: bool) -> float:
    """Half-extent of a copy's axis-aligned box / its half-size: a turning box needs sqrt(2)."""
    return 2**0.5 if spinning else 1.0


def render_layout(
    spec: AnySpec,
    seed: int,
    num_frames: int = NUM_FRAMES,
    height: int = HEIGHT,
    width: int = WIDTH,
    contact: bool = True,
) -> Layout:
    """Place every copy of every object of a v2 `spec` for each frame; deterministic given (spec, seed)."""
    if is_v1(spec):
        raise ValueError(f"spec {spec.id!r} is a v1 spec: use mimir.world.render.render_layout")
    F, H, W = num_frames, height, width
    rng = np.random.default_rng(seed)
    background = background_image(spec.background, rng, H, W)
    offsets, radius, angle, colors, visible = _object_tracks(spec, rng, F, H, W)
    linked = None  # objects whose start positions are tied together (an interaction pair)
    if spec.interaction is not None:
        pair_offsets, _ = _interaction_tracks(spec, rng, radius, F, W, contact)
        a, b = spec.interaction.objects
        offsets[a], offsets[b] = pair_offsets[0], pair_offsets[1]
        linked = (a, b)

    object_index = [i for i, o in enumerate(spec.objects) for _ in range(o.count)]
    K = len(object_index)
    half = np.stack(
        [radius[i] * _bound(spec.objects[i].shape, spec.objects[i].action == "spin") for i in object_index]
    )  # (K, F) half-extent of each copy's box
    margin = MARGIN_FRAC * min(H, W)
    mean_size = 2 * float(np.mean([radius[i, 0] for i in object_index]))
    min_gap = GAP_FRAC * mean_size

    best, best_score = None, np.inf
    for _ in range(_TRIES):
        starts = _place(spec, rng, offsets, half, object_index, linked, (W, H), margin, min_gap)
        if starts is None:
            continue
        score = _relation_score(spec, starts, object_index, (W, H))
        if score < best_score:
            best, best_score = starts, score
        if score <= 0:
            break
    if best is None or best_score > 0:
        raise ValueError(f"spec {spec.id!r}: found no layout of its {K} copies in a {W}x{H} frame")
    centers = best[None] + offsets[object_index].transpose(1, 0, 2)  # (F, K, 2)
    return Layout(
        shapes=[spec.objects[i].shape for i in object_index],
        object_index=object_index,
        centers=centers,
        radius=radius[object_index].T.copy(),
        angle=angle[object_index].T.copy(),
        colors=colors[object_index].transpose(1, 0, 2).copy(),
        visible=visible[object_index].T.copy(),
        background=background,
    )


def _place(spec, rng, offsets, half, object_index, linked, frame, margin, min_gap) -> np.ndarray | None:
    """Start centres (K, 2): copies placed one by one so that no two boxes come closer than `min_gap` (Chebyshev,
    per frame) and every box stays inside the frame; None when a copy finds no room.

    An interaction pair (`linked`) shares one origin (its offsets say where each is): its second object is placed
    where its first was, after it, and the two are allowed to touch."""
    W, H = frame
    K = len(object_index)
    n = len(spec.objects)
    order = list(range(K))
    if linked is not None:  # the pair's second object right after its first
        kb = object_index.index(linked[1])
        order.remove(kb)
        order.insert(order.index(object_index.index(linked[0])) + 1, kb)
    starts = np.zeros((K, 2))
    placed: list[int] = []
    for k in order:
        i = object_index[k]
        path = offsets[i]  # (F, 2)
        lo = half[k][:, None] + margin - path  # (F, 2): the start must keep every frame's box inside
        hi = np.array([W, H])[None] - half[k][:, None] - margin - path
        s_lo, s_hi = lo.max(axis=0), hi.min(axis=0)  # (2,)
        if spec.arrangement == "row":  # the centre in the middle of its slot: objects stand left to right
            slot = W / n
            s_lo[0], s_hi[0] = max(s_lo[0], (i + 0.3) * slot), min(s_hi[0], (i + 0.7) * slot)
        if np.any(s_lo > s_hi):
            return None
        prev = starts[placed][:, None] + offsets[[object_index[j] for j in placed]]  # (p, F, 2)
        need = half[placed] + half[k][None] + min_gap  # (p, F)
        tied = linked is not None and i == linked[1]
        for _ in range(1 if tied else 60):
            cand = starts[object_index.index(linked[0])].copy() if tied else rng.uniform(s_lo, s_hi)  # (2,)
            if np.any(cand < s_lo - 1e-9) or np.any(cand > s_hi + 1e-9):
                continue
            dist = np.abs(prev - (cand[None] + path)[None]).max(axis=2)  # (p, F) Chebyshev
            ok = dist >= need
            if tied:
                ok[placed.index(object_index.index(linked[0]))] = True  # the pair is meant to touch
            if ok.all():
                starts[k] = cand
                placed.append(k)
                break
        else:
            return None
    return starts


def _relation_score(spec: SceneSpec, starts: np.ndarray, object_index: list[int], frame: tuple[int, int]) -> float:
    """<= 0 when a spatial relation reads clearly (as in v1), or when the scene has none."""
    if spec.relation is None:
        return 0.0
    idx = np.asarray(object_index)
    delta = starts[idx == 0].mean(axis=0) - starts[idx == 1].mean(axis=0)  # (2,)
    axis = 0 if spec.relation in ("left_of", "right_of") else 1
    sign = -1.0 if spec.relation in ("left_of", "above") else 1.0
    along = sign * delta[axis]
    return max(frame[axis] / 4 - along, abs(delta[1 - axis]) - ACROSS_FRAC * along)


# ---------------------------------------------------------------------------------------------------------------
# raster


def rasterize(layouts: list[Layout], F: int, H: int, W: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """(B, F, H, W, 3) float32 in [0, 1] from v2 layouts."""
    B = len(layouts)
    to = dict(device=device, dtype=torch.float32)
    video = torch.stack([torch.from_numpy(lay.background).to(**to) for lay in layouts])  # (B, H, W, 3)
    video = video[:, None].expand(B, F, H, W, 3).clone()  # (B, F, H, W, 3)
    xs = torch.arange(W, **to) + 0.5  # (W,) pixel centres
    ys = torch.arange(H, **to) + 0.5  # (H,)
    K = max(len(lay.shapes) for lay in layouts)
    for k in range(K):  # painter's order over copies; copies touch only in interactions
        for shape in vocab.SHAPES:
            rows = [b for b, lay in enumerate(layouts) if k < len(lay.shapes) and lay.shapes[k] == shape]
            if not rows:
                continue
            lay_k = [layouts[b] for b in rows]
            c = torch.tensor(np.stack([lay.centers[:, k] for lay in lay_k]), **to)  # (N, F, 2)
            r = torch.tensor(np.stack([lay.radius[:, k] for lay in lay_k]), **to)[..., None, None]  # (N, F, 1, 1)
            ang = torch.tensor(np.stack([lay.angle[:, k] for lay in lay_k]), **to)[..., None, None]  # (N, F, 1, 1)
            dx = xs[None, None, None, :] - c[..., 0, None, None]  # (N, F, 1, W)
            dy = ys[None, None, :, None] - c[..., 1, None, None]  # (N, F, H, 1)
            # turn the sampling grid against the shape's rotation (clockwise on screen, y down)
            cos, sin = torch.cos(ang), torch.sin(ang)
            u, v = cos * dx + sin * dy, -sin * dx + cos * dy  # (N, F, H, W)
            alpha = (0.5 - sdf(shape, u, v, r)).clamp(0.0, 1.0)  # (N, F, H, W)
            vis = torch.tensor(np.stack([lay.visible[:, k] for lay in lay_k]), **to)  # (N, F)
            alpha = alpha * vis[..., None, None]
            col = torch.tensor(np.stack([lay.colors[:, k] for lay in lay_k]), **to)  # (N, F, 3)
            idx = torch.tensor(rows, device=device)
            cur = video[idx]  # (N, F, H, W, 3)
            video[idx] = cur + alpha[..., None] * (col[:, :, None, None, :] - cur)
    return video.clamp_(0.0, 1.0)


def render(
    specs: list[AnySpec],
    seeds: list[int],
    num_frames: int = NUM_FRAMES,
    height: int = HEIGHT,
    width: int = WIDTH,
    device: str | torch.device = "cpu",
    contact: bool = True,
) -> torch.Tensor:
    """Ground-truth videos of v2 (and v1) specs: (B, F, H, W, 3) float32 in [0, 1]; B = len(specs)."""
    if len(specs) != len(seeds):
        raise ValueError(f"len(specs)={len(specs)} != len(seeds)={len(seeds)}")
    F, H, W = num_frames, height, width
    out = torch.zeros(len(specs), F, H, W, 3, device=device)
    new = [b for b, s in enumerate(specs) if not is_v1(s)]
    old = [b for b, s in enumerate(specs) if is_v1(s)]
    if old:
        out[old] = v1_render([specs[b] for b in old], [seeds[b] for b in old], F, H, W, device)
    if new:
        layouts = [render_layout(specs[b], seeds[b], F, H, W, contact) for b in new]
        out[new] = rasterize(layouts, F, H, W, device)
    return out
