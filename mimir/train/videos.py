"""Real training videos: the list of (video, caption) items, decoding with PyAV, resize and centre crop to the
model's size, the filter scan that decides once which clips train, and the dataset the trainer reads.

Sources (`--data`):
    a folder      every video file under it (`.mp4 .mov .mkv .webm .avi .m4v`, recursive), captioned by the `.txt`
                  file of the same stem beside it (the layout of diffusers' and CogVideoX's fine-tuning data)
    a .csv file   columns `video` and `caption`
    a .jsonl file one object per line with keys `video` and `caption`
Relative video paths are read from the list file's folder.

A file that cannot be read, has no caption, is too short for the requested frames or fails a filter is skipped and
counted under its reason in the run's `data_report.json`; it never stops the run.
"""

import csv
import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import av
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Sampler

from .filters import ClipFilter


logger = logging.getLogger(__name__)

VIDEO_EXTENSIONS = (".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v")


@dataclass(frozen=True)
class VideoItem:
    path: str
    caption: str | None  # None: no caption was found (the item is skipped as "no_caption")


@dataclass(frozen=True)
class ClipSpec:
    """What the trainer takes from each video: `num_frames` frames at `fps` from the start, resized to cover
    height x width and centre-cropped. Sampling from the start at a fixed rate is our choice (CogVideoX-5B trains on
    8 fps clips); `fps=None` takes consecutive frames at the source's rate."""

    num_frames: int
    height: int
    width: int
    fps: float | None = 8.0

    def __post_init__(self):
        for name in ("num_frames", "height", "width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}={getattr(self, name)} must be a positive number")
        if self.fps is not None and self.fps <= 0:
            raise ValueError(f"fps={self.fps} must be > 0")


def list_videos(data: str | Path) -> list[VideoItem]:
    """The (video, caption) items of a folder, a .csv or a .jsonl file (see the module docstring)."""
    data = Path(data)
    if not data.exists():
        raise ValueError(f"--data {str(data)!r} does not exist: give a folder of videos, a .csv or a .jsonl file")
    if data.is_dir():
        items = []
        for path in sorted(p for p in data.rglob("*") if p.suffix.lower() in VIDEO_EXTENSIONS):
            text = path.with_suffix(".txt")
            items.append(VideoItem(str(path), text.read_text().strip() if text.is_file() else None))
        return items
    if data.suffix.lower() == ".csv":
        with data.open(newline="") as f:
            rows = list(csv.DictReader(f))
        if rows and not {"video", "caption"} <= set(rows[0]):
            raise ValueError(f"{str(data)!r} has columns {sorted(rows[0])}; it needs 'video' and 'caption'")
    elif data.suffix.lower() == ".jsonl":
        rows = []
        for number, line in enumerate(data.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if not isinstance(row, dict) or "video" not in row:
                raise ValueError(f"{str(data)!r} line {number}: expected an object with 'video' and 'caption'")
            rows.append(row)
    else:
        raise ValueError(f"--data {str(data)!r}: expected a folder, a .csv or a .jsonl file")
    return [VideoItem(str(data.parent / row["video"]), (row.get("caption") or "").strip() or None) for row in rows]


class UnusableVideo(Exception):
    """A video that cannot train; `reason` is the key it is counted under."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


def read_frames(path: str, spec: ClipSpec) -> tuple[torch.Tensor, float | None]:
    """Decode `spec.num_frames` frames at `spec.fps` from the start of a video with PyAV.

    Returns (frames (F, H, W, 3) uint8, the source's duration in seconds or None when the container does not say).
    Raises UnusableVideo("unreadable") for anything PyAV cannot decode, ("too_short") when fewer frames exist.
    """
    frames = []
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise UnusableVideo("unreadable", f"{path}: no video stream")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            rate = float(stream.average_rate or stream.guessed_rate or 0) or None
            seconds = container.duration / av.time_base if container.duration else None
            # Keep every `stride`-th decoded frame: the source's rate brought to the requested one.
            stride = max(1, round(rate / spec.fps)) if (spec.fps and rate) else 1
            for i, frame in enumerate(container.decode(stream)):
                if i % stride == 0:
                    frames.append(torch.from_numpy(frame.to_ndarray(format="rgb24")))  # (H, W, 3)
                    if len(frames) == spec.num_frames:
                        break
    except UnusableVideo:
        raise
    except (av.FFmpegError, OSError, ValueError, UnicodeDecodeError) as error:
        raise UnusableVideo("unreadable", f"{path}: {error}") from None
    if len(frames) < spec.num_frames:
        raise UnusableVideo("too_short", f"{path}: {len(frames)} of {spec.num_frames} frames")
    return torch.stack(frames), seconds  # (F, H, W, 3)


def resize_crop(frames: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Scale so the frames cover height x width (aspect kept), then centre-crop. (F, H, W, 3) uint8 ->
    (3, F, height, width) float in [-1, 1], the VAE's layout."""
    Fr, H, W, _ = frames.shape
    scale = max(height / H, width / W)
    size = (max(height, round(H * scale)), max(width, round(W * scale)))
    video = frames.permute(0, 3, 1, 2).float()  # (F, 3, H, W)
    video = F.interpolate(video, size=size, mode="bilinear", antialias=True, align_corners=False)  # (F, 3, H', W')
    top, left = (size[0] - height) // 2, (size[1] - width) // 2
    video = video[:, :, top : top + height, left : left + width]  # (F, 3, height, width)
    video = (video / 127.5 - 1.0).clamp(-1.0, 1.0)
    return video.permute(1, 0, 2, 3).contiguous()  # (3, F, height, width)


@dataclass
class DataReport:
    """How many items train and why the others do not (reason -> count)."""

    total: int = 0
    kept: int = 0
    skipped: Counter = field(default_factory=Counter)

    def add(self, reason: str | None) -> None:
        self.total += 1
        if reason is None:
            self.kept += 1
        else:
            self.skipped[reason] += 1

    def merge(self, other: "DataReport") -> None:
        self.total += other.total
        self.kept += other.kept
        self.skipped.update(other.skipped)

    def to_dict(self) -> dict:
        return {"total": self.total, "kept": self.kept, "skipped": dict(sorted(self.skipped.items()))}

    def summary(self) -> str:
        skipped = ", ".join(f"{k} {v}" for k, v in sorted(self.skipped.items())) or "none"
        return f"{self.kept} of {self.total} videos kept; skipped: {skipped}"


def check_item(item: VideoItem, spec: ClipSpec, clip_filter: ClipFilter) -> str | None:
    """The reason an item cannot train, or None. Never raises for a bad file."""
    if item.caption is None:
        return "no_caption"
    try:
        frames, seconds = read_frames(item.path, spec)
    except UnusableVideo as error:
        logger.info("skipping %s", error)
        return error.reason
    return clip_filter.reject(frames, seconds, item.caption)


def scan(items: list[VideoItem], spec: ClipSpec, clip_filter: ClipFilter, positions: range) -> tuple[list, DataReport]:
    """Check the items at `positions` (one process's share); returns (positions kept, report)."""
    kept, report = [], DataReport()
    for i in positions:
        reason = check_item(items[i], spec, clip_filter)
        report.add(reason)
        if reason is None:
            kept.append(i)
    return kept, report


class VideoClips(Dataset):
    """Decoded, resized clips of the kept items: {"video": (3, F, H, W) in [-1, 1], "caption": str, "index": int}.
    A file that breaks after the scan (edited, unmounted) gives None, which `collate_clips` drops and counts."""

    def __init__(self, items: list[VideoItem], spec: ClipSpec):
        self.items, self.spec = items, spec

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict | None:
        item = self.items[i]
        try:
            frames, _ = read_frames(item.path, self.spec)  # (F, H, W, 3)
        except UnusableVideo as error:
            logger.warning("skipping %s during training", error)
            return None
        return {"video": resize_crop(frames, self.spec.height, self.spec.width), "caption": item.caption, "index": i}


def collate_clips(samples: list[dict | None]) -> dict:
    """Stack the clips that decoded; `broken` counts those that did not."""
    good = [s for s in samples if s is not None]
    batch = {
        "video": torch.stack([s["video"] for s in good]) if good else None,  # (B, 3, F, H, W)
        "caption": [s["caption"] for s in good],
        "index": [s["index"] for s in good],
        "broken": len(samples) - len(good),
    }
    return batch


class StepBatches(Sampler):
    """Batches as a pure function of the (micro-)step: step s of process r takes positions [s*B*R + r*B, +B) of an
    endless stream in which each epoch is a seeded permutation of the N items. A resumed run therefore sees exactly
    the data a run that was never stopped would have seen (the issue's "same loss curve, same data order")."""

    def __init__(self, n: int, batch_size: int, world: int, rank: int, seed: int, start_step: int, end_step: int):
        if n < 1:
            raise ValueError("no training videos are left after filtering: see data_report.json")
        self.n, self.B, self.world, self.rank, self.seed = n, batch_size, world, rank, seed
        self.start, self.end = start_step, end_step
        self._epoch, self._order = -1, None

    def __len__(self) -> int:
        return max(0, self.end - self.start)

    def batch(self, step: int) -> list[int]:
        first = step * self.B * self.world + self.rank * self.B
        out = []
        for position in range(first, first + self.B):
            epoch, offset = divmod(position, self.n)
            if epoch != self._epoch:
                generator = torch.Generator().manual_seed(self.seed * 100_003 + epoch)
                self._epoch, self._order = epoch, torch.randperm(self.n, generator=generator)
            out.append(int(self._order[offset]))
        return out

    def __iter__(self):
        for step in range(self.start, self.end):
            yield self.batch(step)
