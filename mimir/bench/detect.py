"""Classical object detection for NanoBench: colour segmentation, connected components, shape descriptors.

No learned model: the nano world has eight fixed colours on a grey background (`mimir.world.vocab`), so a frame
is read by (1) estimating the background colour, (2) marking pixels nearer a palette colour than the background,
(3) splitting the foreground into connected components (and a component into colours where two objects touch),
(4) naming each component's colour by a vote of its confidently coloured pixels and its shape by descriptors
(template match on the bounding-box crop). Generated videos are blurred and a bit off in colour, so every threshold
below is relative (a fraction of a colour-to-background distance, a fraction of the frame area), not absolute.
"""

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from skimage import measure, transform

from mimir.world.vocab import COLORS


COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
PALETTE: np.ndarray = np.array([COLORS[c] for c in COLOR_NAMES], dtype=np.float32) / 255.0  # (C, 3)

# A component smaller than this fraction of the frame is noise (25 pixels at 64x64). Our choice: the smallest
# rendered object of the nano world is several times larger, a VAE speckle is smaller.
MIN_AREA_FRACTION = 0.006
# A component larger than this fraction is not an object but a mis-estimated background (a nano object's box
# is 5% of the frame); it counts as noise. Our choice.
MAX_AREA_FRACTION = 0.25
# Below this template match a component keeps its colour but gets no shape name ("blob"): blurred renders score
# above 0.75, coloured noise blobs mostly below. Our choice.
MIN_SHAPE_SCORE = 0.72
# A pixel votes for a colour only when it is mostly that colour (alpha) and near its background-colour line
# (residual, as a fraction of the colour's distance to the background). Our choice, loose enough for VAE colours.
CORE_ALPHA = 0.7
CORE_RESIDUAL = 0.35
# Two colours inside one component are split into two objects when the second has this share of the core votes.
SPLIT_SHARE = 0.2


@dataclass
class Detection:
    """One object found in one frame; coordinates are pixels, (0, 0) top-left, y grows downwards."""

    color: str
    shape: str  # one of vocab.SHAPES, or "blob" when no template fits
    area: int
    cx: float
    cy: float
    bbox: tuple[int, int, int, int]  # (min_row, min_col, max_row, max_col), max exclusive
    shape_score: float  # template match in [0, 1]: how clean the shape is
    solidity: float
    purity: float  # share of the component's pixels that are confidently its colour


@dataclass
class FrameDetections:
    """Everything the checks need from one frame."""

    objects: list[Detection]
    background: np.ndarray  # (3,) float in [0, 1]: the frame's background colour estimate
    background_mask: np.ndarray  # (H, W) bool
    noise_pixels: int  # foreground pixels in components too small to be objects


def to_float_frames(frames: np.ndarray) -> np.ndarray:
    """(F, H, W, 3) uint8 or float -> float32 in [0, 1]; raises on any other shape."""
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must have shape (F, H, W, 3), got {frames.shape}")
    if frames.dtype == np.uint8:
        return frames.astype(np.float32) / 255.0
    return np.clip(frames.astype(np.float32), 0.0, 1.0)


def estimate_background(frame: np.ndarray) -> np.ndarray:
    """Per-channel median of the frame, (3,): objects cover well under half of a nano-world frame."""
    return np.median(frame.reshape(-1, 3), axis=0)


def unmix(frame: np.ndarray, bg: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Explain every pixel as a blend `bg + alpha * (colour - bg)` of the background and one palette colour.

    frame (H, W, 3), bg (3,) -> (label (H, W) int, alpha (H, W) in [0, 1], residual (H, W)). Blur mixes an object
    with the background, and such a mix can lie nearer a *third* palette colour (dark yellow is near orange), so
    the label is the colour whose background line passes nearest the pixel, not the nearest colour.
    """
    direction = PALETTE - bg  # (C, 3)
    offset = frame - bg  # (H, W, 3)
    a = np.clip(offset @ direction.T / (direction**2).sum(-1), 0.0, 1.0)  # (H, W, C)
    resid = np.linalg.norm(offset[:, :, None, :] - a[..., None] * direction, axis=-1)  # (H, W, C)
    # alpha breaks ties: on the background every line is equally near, and alpha is ~0 whatever the label
    labels = (resid - 1e-3 * a).argmin(-1)  # (H, W)
    pick = labels[..., None]
    return labels, np.take_along_axis(a, pick, -1)[..., 0], np.take_along_axis(resid, pick, -1)[..., 0]


TEMPLATE_SIZE = 24


def _shape_templates(size: int = TEMPLATE_SIZE) -> dict[str, list[np.ndarray]]:
    """Soft masks (size, size) of each shape stretched to fill a unit bounding box, 4x supersampled.

    Our choice of variants: triangles pointing up or down, a square also as a diamond (a rotated square fills
    its box like a triangle would), crosses with arms a quarter to two fifths of the span wide.
    """
    n = size * 4
    yy, xx = (np.mgrid[0:n, 0:n] + 0.5) / n * 2 - 1  # (n, n) each, in [-1, 1]
    ax, ay = np.abs(xx), np.abs(yy)
    masks: dict[str, list[np.ndarray]] = {
        "circle": [xx**2 + yy**2 <= 1],
        "square": [np.ones((n, n), dtype=bool), ax + ay <= 1],
        "triangle": [ax <= (yy + 1) / 2, ax <= (1 - yy) / 2],
        "cross": [((ax <= w) | (ay <= w)) for w in (0.25, 0.33, 0.4)],
    }
    return {k: [m.reshape(size, 4, size, 4).mean((1, 3)) for m in v] for k, v in masks.items()}


TEMPLATES = _shape_templates()


def classify_shape(mask: np.ndarray) -> tuple[str, float, float]:
    """Name the shape of one component crop (h, w) bool that fills its own bounding box: (shape, score, solidity).

    Template matching: the crop is resized to the template grid and compared with every shape template by
    1 - mean absolute difference; the best match wins. Stretching to the bounding box makes the match blind to
    size and aspect, which generated videos get a little wrong. `score` (in [0, 1]) is how clean the shape is.
    """
    soft = transform.resize(mask.astype(np.float32), (TEMPLATE_SIZE, TEMPLATE_SIZE), order=1, anti_aliasing=True)
    best, best_score = "circle", -1.0
    for shape, variants in TEMPLATES.items():
        score = max(1.0 - float(np.abs(soft - t).mean()) for t in variants)
        if score > best_score:
            best, best_score = shape, score
    solidity = float(measure.regionprops(mask.astype(np.uint8))[0].solidity)
    return best, best_score, solidity


def _split_by_color(comp: np.ndarray, labels: np.ndarray, core: np.ndarray, min_area: int) -> list[np.ndarray]:
    """Split one foreground component (H, W) bool into per-colour masks when two objects of different colours touch.

    Every pixel goes to the nearest core pixel of a strong colour (a discrete Voronoi split), so blurred edges
    follow the object they belong to.
    """
    votes = np.bincount(labels[comp & core], minlength=len(COLOR_NAMES))  # (C,)
    total = votes.sum()
    if total == 0:
        return [comp]
    strong = [c for c in np.argsort(-votes) if votes[c] >= max(min_area, SPLIT_SHARE * total)]
    if len(strong) <= 1:
        return [comp]
    seeds = np.zeros(comp.shape, dtype=np.int64)  # 0 = no seed, k + 1 = strong colour k
    for k, c in enumerate(strong):
        seeds[comp & core & (labels == c)] = k + 1
    _, (iy, ix) = ndimage.distance_transform_edt(seeds == 0, return_indices=True)
    owner = seeds[iy, ix]  # (H, W): strong-colour index of the nearest seed
    return [comp & (owner == k + 1) for k in range(len(strong))]


def detect_frame(frame: np.ndarray) -> FrameDetections:
    """Find the objects of one frame (H, W, 3) float in [0, 1]."""
    H, W, _ = frame.shape
    min_area = max(3, int(round(MIN_AREA_FRACTION * H * W)))
    max_area = MAX_AREA_FRACTION * H * W
    bg = estimate_background(frame)  # (3,)
    labels, alpha, resid = unmix(frame, bg)  # (H, W) each
    pal_to_bg = np.linalg.norm(PALETTE - bg, axis=-1)  # (C,)
    fg = alpha >= 0.5
    core = (alpha >= CORE_ALPHA) & (resid < CORE_RESIDUAL * pal_to_bg[labels])

    comp_labels, n = ndimage.label(fg, structure=np.ones((3, 3)))  # 8-connectivity: thin triangle tips stay whole
    objects: list[Detection] = []
    noise = 0
    for i in range(1, n + 1):
        comp = comp_labels == i
        if comp.sum() < min_area:
            noise += int(comp.sum())
            continue
        for part in _split_by_color(comp, labels, core, min_area):
            part = ndimage.binary_fill_holes(part)
            area = int(part.sum())
            if area < min_area or area > max_area:
                noise += area
                continue
            det = _describe(part, labels, core)
            if det is not None:
                objects.append(det)
    return FrameDetections(objects=objects, background=bg, background_mask=~fg, noise_pixels=noise)


def _describe(part: np.ndarray, labels: np.ndarray, core: np.ndarray) -> Detection | None:
    """Colour vote, shape and geometry of one object mask (H, W) bool."""
    votes = np.bincount(labels[part & core], minlength=len(COLOR_NAMES))  # (C,)
    if votes.sum() == 0:
        votes = np.bincount(labels[part], minlength=len(COLOR_NAMES))  # all edge, no core: nearest colour
    c = int(votes.argmax())
    rows, cols = np.nonzero(part)
    r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
    crop = part[r0:r1, c0:c1]
    if crop.shape[0] < 2 or crop.shape[1] < 2:
        return None  # a line of pixels is not an object
    shape, shape_score, solidity = classify_shape(crop)
    if shape_score < MIN_SHAPE_SCORE:
        shape = "blob"
    area = int(part.sum())
    return Detection(
        color=COLOR_NAMES[c],
        shape=shape,
        area=area,
        cx=float(cols.mean()),
        cy=float(rows.mean()),
        bbox=(int(r0), int(c0), int(r1), int(c1)),
        shape_score=shape_score,
        solidity=solidity,
        purity=float(votes[c] / area),
    )


def detect_video(frames: np.ndarray) -> list[FrameDetections]:
    """Detections for every frame of (F, H, W, 3) uint8 or float frames."""
    return [detect_frame(f) for f in to_float_frames(frames)]
