"""The app's one folder of generated files: generated names only, removed after an age, bounded in size, and removed
whole on shutdown.

The folder is always one the app creates itself, ``mimir-studio-<random>``: under the system's temporary folder, or
under the folder given (``--out-dir``), which may already hold the user's own files. Only that sub-folder is ever
swept or removed, so nothing the app did not create is deleted; two apps given the same folder each keep their own.

Every event writes into a new sub-folder with a random name (`new_folder`); no request parameter ever becomes part
of a path. `cache` is where a server library keeps its own copies of the files it serves (the app points Gradio's
cache there): its sub-folders are swept the same way, and go with the folder on shutdown.

`sweep` (run before every new folder) removes sub-folders older than `max_age_seconds`, then the oldest ones until
the folder holds at most `max_bytes`; the newest folder is kept even when it alone is larger, so the files of the
request that is being answered are never removed under it.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path


logger = logging.getLogger(__name__)

MAX_AGE_SECONDS = 3600.0  # a result stays downloadable for an hour (our choice)
CACHE_NAME = "cache"
OWN_PREFIX = "mimir-studio-"  # the app's own folder: OWN_PREFIX + 12 random hex digits
MAX_BYTES = 1 << 30  # 1 GiB of videos at most (our choice; a nano event writes about 100 kB, a 5B event a few MB)


class OutputFolder:
    """One folder holding every generated file of the app, one random-named sub-folder per event."""

    def __init__(
        self, root: str | Path | None = None, max_age_seconds: float = MAX_AGE_SECONDS, max_bytes: int = MAX_BYTES
    ) -> None:
        parent = Path(tempfile.gettempdir()) if root is None else Path(root)
        if parent.exists() and not parent.is_dir():
            raise ValueError(f"output folder {str(parent)!r} is not a folder; give a folder (it may hold other files)")
        self.root = parent / f"{OWN_PREFIX}{uuid.uuid4().hex[:12]}"  # ours alone: the only folder swept or removed
        try:
            self.root.mkdir(parents=True)  # exist_ok=False: a folder that was already there is never taken as ours
        except OSError as err:
            raise ValueError(f"cannot create the app's output folder in {str(parent)!r}: {err.strerror}") from None
        self.max_age_seconds = max_age_seconds
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    @property
    def cache(self) -> Path:
        return self.root / CACHE_NAME

    def new_folder(self) -> Path:
        """A new, empty sub-folder name (created by the first file written into it, so a refused input leaves none)."""
        self.sweep()
        return self.root / uuid.uuid4().hex

    def _folders(self) -> list[tuple[float, int, Path]]:
        """(modified time, bytes, path) of each sub-folder, oldest first."""
        found = []
        units = [p for p in self.root.iterdir() if p.name != CACHE_NAME] if self.root.is_dir() else []
        units += list(self.cache.iterdir()) if self.cache.is_dir() else []
        for folder in units:
            if folder.is_symlink():  # nothing the app writes: timed by the link itself, never followed
                found.append((folder.lstat().st_mtime, 0, folder))
                continue
            files = [f for f in folder.rglob("*") if f.is_file()] if folder.is_dir() else [folder]
            stats = [f.stat() for f in files]
            mtime = max((s.st_mtime for s in stats), default=folder.stat().st_mtime)
            found.append((mtime, sum(s.st_size for s in stats), folder))
        return sorted(found)

    def sweep(self, now: float | None = None) -> list[Path]:
        """Remove sub-folders past the age, then the oldest beyond the size bound; returns what was removed."""
        now = time.time() if now is None else now
        removed = []
        with self._lock:
            folders = self._folders()
            total = sum(size for _, size, _ in folders)
            for i, (mtime, size, folder) in enumerate(folders):
                too_old = now - mtime > self.max_age_seconds
                too_big = total > self.max_bytes and i < len(folders) - 1
                if too_old or too_big:
                    _remove(folder)
                    total -= size
                    removed.append(folder)
        if removed:
            logger.info("removed %d old output folders from %s", len(removed), self.root)
        return removed

    def size_bytes(self) -> int:
        return sum(size for _, size, _ in self._folders())

    def remove_all(self) -> None:
        """Remove the app's own folder (on shutdown); the folder given to the app, and all else in it, stays."""
        with self._lock:
            shutil.rmtree(self.root, ignore_errors=True)


def _remove(path: Path) -> None:
    if path.is_symlink():  # the link goes, never what it points to
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)
