"""Classical object detection for NanoBench-Comp (world v2): objects on textured, graded backgrounds, any rotation.

The v1 detector (`mimir.bench.detect`) assumes one flat background colour and upright shapes. World v2 has places
(a gradient plus a texture) and spinning objects, so a frame is read by (1) fitting a smooth background (a quadratic
in x and y per channel, refit without the pixels it explains badly), (2) unmixing every pixel as that background
blended with one palette colour (v1's rule, with a background per pixel), (3) connected components split by colour
(v1's `_split_by_color`), (4) per object its colour vote, area, centroid and a **polar signature**: its outline's
radius at `N_ANGLES` angles around the centroid, on the soft coverage. The shape is the template whose signature,
turned to the best angle, is nearest (blind to rotation), and the angle between two frames' signatures is how far the
object turned (the spin check). Thresholds are relative, as in v1, so blur and colour shifts move them little.
"""

import functools
from dataclasses import dataclass

import numpy as np
import torch
from scipy import ndimage

from mimir.bench.detect import CORE_ALPHA, CORE_RESIDUAL, PALETTE
from mimir.world.v2 import vocab
from mimir.world.v2.render import sdf


COLOR_NAMES: tuple[str, ...] = tuple(vocab.COLORS)
N_ANGLES = 64  # signature resolution: 5.6 degrees
# A component smaller than this share of the frame is noise (23 px at 96x96; a small star covers about 55 px).
MIN_AREA_FRACTION = 0.0025
MAX_AREA_FRACTION = 0.25
# Background fit: pixels farther than this (RGB distance, [0, 1] scale) from the fit are left out of the next fit.
BACKGROUND_OUTLIER = 0.12
# Below this signature match (1 - mean relative radius error) a component gets no shape name ("blob").
MIN_SHAPE_SCORE = 0.8


@dataclass
class Blob:
    """One object found in one frame; pixels, (0, 0) top-left, y down."""

    color: str
    shape: str  # vocab.SHAPES or "blob"
    area: int
    cx: float
    cy: float
    radius: float  # estimated half-size of its box: sqrt(area / the shape's area at half-size 1)
    signature: np.ndarray  # (N_ANGLES,) outline radius / its mean, angles clockwise from +x
    mask: np.ndarray  # (H, W) bool
    shape_score: float  # signature match in [0, 1]
    purity: float  # share of its pixels confidently its colour

    @property
    def kind(self) -> tuple[str, str]:
        return self.shape, self.color


@dataclass
class FrameBlobs:
    """What the checks need from one frame (the attribute names of v1's FrameDetections, for v1's quality())."""

    objects: list[Blob]
    background: np.ndarray  # (H, W, 3) fitted background
    background_mask: np.ndarray  # (H, W) bool
    noise_pixels: int


@functools.cache
def _design(H: int, W: int) -> np.ndarray:
    yy, xx = np.mgrid[0:H, 0:W] / max(H, W)
    return np.stack([np.ones_like(xx), xx, yy, xx * xx, xx * yy, yy * yy], -1).reshape(-1, 6)  # (H*W, 6)


def fit_background(frame: np.ndarray, iterations: int = 3) -> np.ndarray:
    """A smooth background (H, W, 3) under a frame (H, W, 3): per channel a quadratic in (x, y), least squares,
    refit on the pixels it explains within BACKGROUND_OUTLIER (objects and stars drop out)."""
    H, W, _ = frame.shape
    A = _design(H, W)  # (H*W, 6)
    y = frame.reshape(-1, 3).astype(np.float64)  # (H*W, 3)
    # fit on every second pixel of every second row: a quadratic needs few samples, and it quarters the cost
    sub = ((np.arange(H)[:, None] % 2 == 0) & (np.arange(W)[None, :] % 2 == 0)).reshape(-1)
    As, ys = A[sub], y[sub]
    keep = np.ones(len(ys))
    for _ in range(iterations):
        Aw = As * keep[:, None]
        coef = np.linalg.solve(Aw.T @ As + 1e-9 * np.eye(6), Aw.T @ ys)  # (6, 3) weighted least squares
        inliers = np.linalg.norm(ys - As @ coef, axis=1) < BACKGROUND_OUTLIER
        if inliers.sum() < 0.3 * len(ys):  # a frame of mostly objects or noise: keep the last fit
            break
        keep = inliers.astype(np.float64)
    fit = A @ coef  # (H*W, 3)
    return fit.reshape(H, W, 3)


def unmix(frame: np.ndarray, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """v1's unmixing with a background per pixel: (labels, alpha, residual, colour-to-background distance), each
    (H, W). Per pixel and palette colour c, with offset o = pixel - bg and direction d = colour - bg:
    alpha = clip(o.d / |d|^2, 0, 1) and residual^2 = |o|^2 - 2 alpha o.d + alpha^2 |d|^2, all from (H*W, 3) x (3, C)
    products (no (H, W, C, 3) array: this is the scorer's hot loop)."""
    H, W, _ = frame.shape
    f = frame.reshape(-1, 3).astype(np.float32)  # (N, 3)
    b = bg.reshape(-1, 3).astype(np.float32)  # (N, 3)
    P = PALETTE.astype(np.float32)  # (C, 3)
    o = f - b  # (N, 3)
    dot = o @ P.T - (o * b).sum(1, keepdims=True)  # (N, C) o.d
    norm2 = (P * P).sum(1)[None] - 2 * b @ P.T + (b * b).sum(1, keepdims=True)  # (N, C) |d|^2
    a = np.clip(dot / np.maximum(norm2, 1e-8), 0.0, 1.0)  # (N, C)
    resid2 = (o * o).sum(1, keepdims=True) - 2 * a * dot + a * a * norm2  # (N, C)
    resid = np.sqrt(np.maximum(resid2, 0.0))
    labels = (resid - 1e-3 * a).argmin(1)  # (N,)
    rows = np.arange(len(f))
    return (
        labels.reshape(H, W),
        a[rows, labels].reshape(H, W),
        resid[rows, labels].reshape(H, W),
        np.sqrt(norm2[rows, labels]).reshape(H, W),
    )


def polar_signature(soft: np.ndarray, cx: float, cy: float) -> np.ndarray:
    """Outline radius (N_ANGLES,) of a soft coverage map (H, W) around (cx, cy): per ray the first radius where the
    coverage falls below one half (bilinear samples every quarter pixel)."""
    H, W = soft.shape
    r_max = 0.75 * max(H, W)
    theta = np.arange(N_ANGLES) * 2 * np.pi / N_ANGLES  # clockwise on screen (y down)
    radii = np.arange(0.0, min(r_max, 60.0), 0.25)  # (R,)
    px = cx + radii[None, :] * np.cos(theta)[:, None]  # (N, R) x
    py = cy + radii[None, :] * np.sin(theta)[:, None]  # (N, R) y
    # pixel (i, j) has its centre at (j + 0.5, i + 0.5)
    vals = ndimage.map_coordinates(soft, [py - 0.5, px - 0.5], order=1, cval=0.0)  # (N, R)
    outside = vals < 0.5
    first = np.where(outside.any(1), outside.argmax(1), len(radii) - 1)  # (N,)
    # linear interpolation of the crossing between the last inside and the first outside sample
    i1 = np.maximum(first, 1)
    v0, v1 = vals[np.arange(N_ANGLES), i1 - 1], vals[np.arange(N_ANGLES), i1]
    frac = np.clip((v0 - 0.5) / np.maximum(v0 - v1, 1e-6), 0.0, 1.0)
    return radii[i1 - 1] + frac * 0.25


def _normalised(sig: np.ndarray) -> np.ndarray:
    return sig / max(float(sig.mean()), 1e-6)


def signature_distance(a: np.ndarray, b: np.ndarray, max_shift: int | None = None) -> tuple[float, int]:
    """Mean |a - b turned by s| over the best circular shift s (within +-max_shift bins): (distance, s)."""
    m = N_ANGLES // 2 if max_shift is None else max_shift
    shifts = np.arange(-m, m + 1) if max_shift is not None else np.arange(N_ANGLES)
    turned = b[(np.arange(N_ANGLES)[None, :] - shifts[:, None]) % N_ANGLES]  # (S, N): row s = np.roll(b, s)
    d = np.abs(a[None] - turned).mean(1)  # (S,)
    k = int(d.argmin())
    return float(d[k]), int(shifts[k])


@functools.cache
def shape_area(shape: str) -> float:
    """Area of a shape of half-size 1 (the box is 2 x 2)."""
    g = torch.linspace(-1.2, 1.2, 601, dtype=torch.float64)
    inside = sdf(shape, g[None, :], g[:, None], 1.0) <= 0
    return float(inside.double().mean()) * 2.4**2


@functools.cache
def template(shape: str, radius: int) -> np.ndarray:
    """Normalised signature (N_ANGLES,) of an upright shape of half-size `radius` px drawn as the renderer draws."""
    n = 4 * radius + 8
    c = n / 2
    xs = torch.arange(n, dtype=torch.float64) + 0.5 - c
    soft = (0.5 - sdf(shape, xs[None, :], xs[:, None], float(radius))).clamp(0, 1).numpy()
    w = soft / soft.sum()
    yy, xx = np.mgrid[0:n, 0:n] + 0.5
    return _normalised(polar_signature(soft, float((w * xx).sum()), float((w * yy).sum())))


def classify(sig: np.ndarray, area: int) -> tuple[str, float]:
    """(shape, score) of a normalised signature: the nearest template at the size the area suggests."""
    best, best_d = "blob", np.inf
    for shape in vocab.SHAPES:
        r = int(np.clip(round((area / shape_area(shape)) ** 0.5), 3, 40))
        d, _ = signature_distance(sig, template(shape, r))
        if d < best_d:
            best, best_d = shape, d
    score = 1.0 - best_d
    return (best if score >= MIN_SHAPE_SCORE else "blob"), score


def split_by_color(comp: np.ndarray, labels: np.ndarray, core: np.ndarray, min_core: int) -> list[np.ndarray]:
    """v1's split of one component (h, w) bool into per-colour masks (each pixel to its nearest core pixel of a
    strong colour), with an absolute threshold: a colour is strong with `min_core` core pixels. v1 also wants a
    fifth of the votes, which a small object touching a large one (an interaction) does not reach."""
    votes = np.bincount(labels[comp & core], minlength=len(COLOR_NAMES))  # (C,)
    strong = [c for c in np.argsort(-votes) if votes[c] >= min_core]
    if len(strong) <= 1:
        return [comp]
    seeds = np.zeros(comp.shape, dtype=np.int64)  # 0 = no seed, k + 1 = strong colour k
    for k, c in enumerate(strong):
        seeds[comp & core & (labels == c)] = k + 1
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    owner = seeds[iy, ix]  # (h, w)
    return [comp & (owner == k + 1) for k in range(len(strong))]


def detect_frame(frame: np.ndarray) -> FrameBlobs:
    """Objects of one frame (H, W, 3) float in [0, 1]."""
    H, W, _ = frame.shape
    min_area = max(3, int(round(MIN_AREA_FRACTION * H * W)))
    max_area = MAX_AREA_FRACTION * H * W
    bg = fit_background(frame)
    labels, alpha, resid, dist = unmix(frame, bg)
    fg = alpha >= 0.5
    core = (alpha >= CORE_ALPHA) & (resid < CORE_RESIDUAL * dist)
    comp_labels, n = ndimage.label(fg, structure=np.ones((3, 3)))
    objects: list[Blob] = []
    noise = 0
    for i, sl in enumerate(ndimage.find_objects(comp_labels), start=1):
        # work in the component's box grown by a margin: the rays and the colour split need no more
        r0, r1 = max(sl[0].start - 3, 0), min(sl[0].stop + 3, H)
        c0, c1 = max(sl[1].start - 3, 0), min(sl[1].stop + 3, W)
        box = (slice(r0, r1), slice(c0, c1))
        comp = comp_labels[box] == i
        if comp.sum() < min_area:
            noise += int(comp.sum())
            continue
        for part in split_by_color(comp, labels[box], core[box], max(min_area // 2, 6)):
            part = ndimage.binary_fill_holes(part)
            area = int(part.sum())
            if area < min_area or area > max_area:
                noise += area
                continue
            votes = np.bincount(labels[box][part & core[box]], minlength=len(COLOR_NAMES))
            if votes.sum() == 0:
                votes = np.bincount(labels[box][part], minlength=len(COLOR_NAMES))
            c = int(votes.argmax())
            # soft coverage of this object: its colour's alpha inside its mask grown by one pixel
            grown = ndimage.binary_dilation(part, structure=np.ones((3, 3)))
            soft = np.where(grown & (labels[box] == c), alpha[box], 0.0) * grown
            soft = np.maximum(soft, part * 0.75)  # inside the mask, covered whatever the label says
            rows, cols = np.nonzero(part)
            cy, cx = float(rows.mean()) + 0.5, float(cols.mean()) + 0.5  # box coordinates, pixel centres
            sig = polar_signature(soft, cx, cy)
            nsig = _normalised(sig)
            shape, score = classify(nsig, area)
            mask = np.zeros((H, W), dtype=bool)
            mask[box] = part
            objects.append(
                Blob(
                    color=COLOR_NAMES[c],
                    shape=shape,
                    area=area,
                    cx=cx + c0,
                    cy=cy + r0,
                    radius=(area / shape_area(shape if shape != "blob" else "circle")) ** 0.5,
                    signature=nsig,
                    mask=mask,
                    shape_score=score,
                    purity=float(votes[c] / area),
                )
            )
    return FrameBlobs(objects=objects, background=bg, background_mask=~fg, noise_pixels=noise)


def detect_video(frames: np.ndarray) -> list[FrameBlobs]:
    """Detections of every frame of (F, H, W, 3) float in [0, 1]."""
    return [detect_frame(f) for f in frames]
