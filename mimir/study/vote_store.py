"""The vote file: an append-only CSV that is the study's source of truth, safe across threads, processes and crashes.

Why a CSV and not SQLite as the source of truth (our choice; the mission asks for votes in CSV): the CSV is what the
study's analysts download and open, and a database with a CSV export would keep two copies that can drift apart. The
guarantees SQLite would give are kept here with the file itself:

* **atomic**: a ballot's rows are encoded first, then written by one `write` under a thread lock and an exclusive
  `fcntl.flock` on the CSV itself, so rows from two threads or two app processes never interleave (POSIX only, as
  the app's hosts are);
* **durable**: the write is `fsync`'d (and the folder, when the file is new) before the vote is acknowledged;
* **whole rows only**: a crash can still cut the last write short. Before every append, and when the store opens, the
  bytes past the last complete record are a *damaged tail*: they are appended to ``<votes>.damaged`` (fsync'd), then
  cut from the CSV, and one warning is logged. Nothing is dropped silently and the next row is never glued onto them.
  A record is complete when it ends in a newline outside quotes (Python's csv doubles every quote inside a field, so
  the quote count tells whether a newline is inside a prompt);
* **header once**: the header goes out with the first rows, in the same write.

The store remembers which bytes it has already checked, so an append reads only what other processes wrote since.
One vote per trial is enforced here, under the lock, from the trial ids in the file itself.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import logging
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from .votes import CSV_COLUMNS, restore


logger = logging.getLogger(__name__)
TRIAL_ID_COLUMN = CSV_COLUMNS.index("trial_id")


class VoteStoreError(RuntimeError):
    """The vote file cannot be used; the message names the path, what is wrong and what to do."""


def complete_length(data: bytes) -> int:
    """Bytes of `data` (which starts at a record boundary) that hold whole CSV records: up to the last newline that
    is outside quotes."""
    end = pos = quotes = 0
    for line in data.split(b"\n")[:-1]:  # the last piece follows the last newline: never a whole record
        quotes += line.count(b'"')
        pos += len(line) + 1
        if quotes % 2 == 0:
            end = pos
    return end


def encode_rows(rows: list[dict[str, Any]], header: bool = False) -> bytes:
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS)
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def votes_frame(data: bytes) -> pd.DataFrame:
    """Whole records of a vote file (a `VoteStore.snapshot`) as a DataFrame of strings, texts restored."""
    if not data:
        return pd.DataFrame(columns=list(CSV_COLUMNS))
    return pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False).map(restore)


class VoteStore:
    """Append-only vote CSV (see the module docstring for the guarantees). Call `open()` at start-up."""

    _thread_locks: ClassVar[dict[Path, threading.Lock]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.damaged_path = self.path.with_name(self.path.name + ".damaged")
        with self._registry_lock:
            self._thread_lock = self._thread_locks.setdefault(self.path.resolve(), threading.Lock())
        self._offset = 0  # bytes already checked: whole records, header included
        self._trial_ids: set[str] = set()

    # ---- start-up -----------------------------------------------------------------------------------------------

    def open(self) -> VoteStore:
        """Check that the votes can be written here, and repair a damaged tail. Raises VoteStoreError saying why not:
        a folder, an unwritable or uncreatable path, text that is not UTF-8, a foreign header, a broken row."""
        if self.path.is_dir():
            raise VoteStoreError(f"votes path {str(self.path)!r} is a folder; give a file, e.g. {self.path}/votes.csv")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise VoteStoreError(f"cannot create the folder of the votes file {str(self.path)!r}: {err}") from None
        with self._locked() as fd:
            self._sync(fd)
        return self

    # ---- writing --------------------------------------------------------------------------------------------------

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append one ballot's rows (dicts with exactly CSV_COLUMNS), durably. Raises ValueError on a wrong row or a
        trial that already has a vote (nothing is written), VoteStoreError when the file cannot be written."""
        for row in rows:
            if set(row) != set(CSV_COLUMNS):
                raise ValueError(f"vote row keys {sorted(row)} differ from the CSV columns {list(CSV_COLUMNS)}")
        trial_ids = {restore(str(row["trial_id"])) for row in rows}
        with self._locked() as fd:
            self._sync(fd)
            voted = sorted(trial_ids & self._trial_ids)
            if voted:
                raise ValueError(f"trial {voted[0]!r} already has a vote: start a new trial")
            payload = encode_rows(rows, header=self._offset == 0)
            try:
                view = memoryview(payload)
                while view:  # os.write may write less than asked (a signal, a full disk): write the rest
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError as err:
                # The vote is not acknowledged; whatever part reached the file is a damaged tail for the next sync.
                raise VoteStoreError(f"could not write the vote to {str(self.path)!r}: {err}") from None
            if self._offset == 0:
                self._fsync_folder()  # a new file's name must survive a crash too
            self._offset += len(payload)
            self._trial_ids |= trial_ids

    def has_vote(self, trial_id: str) -> bool:
        with self._locked() as fd:
            self._sync(fd)
            return trial_id in self._trial_ids

    # ---- reading --------------------------------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The file's whole records at this moment (never a row being written)."""
        with self._locked() as fd:
            self._sync(fd)
            return os.pread(fd, self._offset, 0)

    def read(self) -> pd.DataFrame:
        """The votes as a DataFrame of strings, texts restored (`votes.restore`)."""
        return votes_frame(self.snapshot())

    # ---- internals ------------------------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        """The thread lock (this process's state), then an open descriptor of the CSV holding an exclusive `flock`
        (other processes; the kernel drops it when a holder dies, so a killed app never leaves the file locked)."""
        with self._thread_lock:
            fd = self._open_fd()
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                yield fd
            finally:
                os.close(fd)  # closing releases the flock

    def _open_fd(self) -> int:
        try:
            return os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise VoteStoreError(f"cannot open the votes file {str(self.path)!r} to write: {err.strerror}") from None

    def _sync(self, fd: int) -> None:
        """Check the bytes written since the last check (all of them the first time): repair a damaged tail, check
        the header, learn the trial ids. Called with the locks held."""
        size = os.fstat(fd).st_size
        if size < self._offset:  # replaced or truncated behind our back: check it all again
            self._offset, self._trial_ids = 0, set()
        if size == self._offset:
            return
        data = os.pread(fd, size - self._offset, self._offset)
        if self._offset == 0:
            self._check_header(data)
        end = complete_length(data)
        if end < len(data):
            self._move_tail(fd, self._offset + end, data[end:])
        try:
            text = data[:end].decode("utf-8")
        except UnicodeDecodeError as err:
            raise VoteStoreError(
                f"votes file {str(self.path)!r} is not UTF-8 text (byte {self._offset + err.start}); "
                "move it away or pass another --votes file"
            ) from None
        records = list(csv.reader(io.StringIO(text, newline="")))
        if self._offset == 0 and records:
            records = records[1:]  # the header, checked above
        for record in records:
            if len(record) != len(CSV_COLUMNS):
                raise VoteStoreError(
                    f"votes file {str(self.path)!r} holds a row of {len(record)} fields, expected "
                    f"{len(CSV_COLUMNS)} (trial {record[TRIAL_ID_COLUMN] if len(record) > TRIAL_ID_COLUMN else '?'}); "
                    "repair or move the file"
                )
            self._trial_ids.add(restore(record[TRIAL_ID_COLUMN]))
        self._offset += end

    def _check_header(self, data: bytes) -> None:
        """A file of ours starts with our header (or a part of it: the first write was cut). Anything else is
        refused whole, never repaired: it is someone else's file."""
        header = encode_rows([], header=True)
        if data.startswith(header) or header.startswith(data):
            return
        first = data.split(b"\n", 1)[0]
        try:
            first.decode("utf-8")
        except UnicodeDecodeError as err:
            raise VoteStoreError(
                f"votes file {str(self.path)!r} is not UTF-8 text (byte {err.start}); "
                "move it away or pass another --votes file"
            ) from None
        found = next(csv.reader([first.decode("utf-8").rstrip("\r")]), [])
        raise VoteStoreError(
            f"votes file {str(self.path)!r} has header {found[:4]}, expected {list(CSV_COLUMNS[:4])}...; "
            "use a new --votes file for this app version"
        )

    def _move_tail(self, fd: int, at: int, tail: bytes) -> None:
        """Keep a partial last record in the side file first, then cut it from the CSV: it is never lost."""
        with self.damaged_path.open("ab") as side:
            side.write(tail + b"\n")
            side.flush()
            os.fsync(side.fileno())
        os.ftruncate(fd, at)
        os.fsync(fd)
        logger.warning(
            "votes file %s ended in a partial row (%d bytes at byte %d, no newline): moved to %s",
            self.path,
            len(tail),
            at,
            self.damaged_path,
        )

    def _fsync_folder(self) -> None:
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
