"""The vote file: an append-only CSV that is the study's source of truth, safe across threads, processes and crashes.

Why a CSV and not SQLite as the source of truth (our choice; the mission asks for votes in CSV): the CSV is what the
study's analysts download and open, and a database with a CSV export would keep two copies that can drift apart. The
guarantees SQLite would give are kept here with the file itself:

* **atomic**: a ballot's rows are encoded first, then written by one `write` under a thread lock and an exclusive
  `fcntl.flock` on the CSV itself, so rows from two threads or two app processes never interleave (POSIX only, as
  the app's hosts are);
* **all or nothing**: when the write or its `fsync` fails (a file-size limit: EFBIG; a full disk: ENOSPC; a failing
  device: EIO), the file is cut back, under the same locks, to where the ballot began, and the vote is refused with
  "nothing of it was kept: try again"; the retry is a new write of the same trial;
* **durable**: the write is `fsync`'d (and the folder, when the file is new) before the vote is acknowledged;
* **whole ballots only**: a crash (or a failed write whose cut failed too) can still leave a partial ballot. Before
  every append, and when the store opens, the bytes past the last complete *ballot* are a *damaged tail*: a record
  cut short, and the whole records before it that belong to the same trial but do not hold every criterion (a
  ballot's rows are one per criterion, one trial id; `votes.vote_rows`). The tail is appended to ``<votes>.damaged``
  (fsync'd) exactly once, then cut from the CSV, and one warning is logged. Nothing is dropped silently and the next
  row is never glued onto it. A record is complete when it ends in a newline outside quotes (Python's csv doubles
  every quote inside a field, so the quote count tells whether a newline is inside a prompt);
* **a regular file only**: a folder, a FIFO, a device or a socket (directly or through a symlink; a symlink to a
  regular file is allowed) is refused before it is opened, and again on every open (the path may be replaced);
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
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pandas as pd

from .votes import CRITERIA, CSV_COLUMNS, restore


logger = logging.getLogger(__name__)
TRIAL_ID_COLUMN = CSV_COLUMNS.index("trial_id")
CRITERION_COLUMN = CSV_COLUMNS.index("criterion")
# What a path is when it is not a regular file, in the words of the refusal.
_FILE_KINDS = (
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


class VoteStoreError(RuntimeError):
    """The vote file cannot be used; the message names the path, what is wrong and what to do."""


def record_ends(data: bytes) -> list[int]:
    """Where each whole CSV record of `data` (which starts at a record boundary) ends: after each newline that is
    outside quotes."""
    ends, pos, quotes = [], 0, 0
    for line in data.split(b"\n")[:-1]:  # the last piece follows the last newline: never a whole record
        quotes += line.count(b'"')
        pos += len(line) + 1
        if quotes % 2 == 0:
            ends.append(pos)
    return ends


def complete_length(data: bytes) -> int:
    """Bytes of `data` (which starts at a record boundary) that hold whole CSV records."""
    ends = record_ends(data)
    return ends[-1] if ends else 0


def last_ballot_start(records: list[list[str]]) -> int:
    """Index of the first record of the trailing ballot when it is partial (its trial's rows at the end do not hold
    every criterion), else len(records): the records before that index are whole ballots."""
    if not records:
        return 0
    trial_id, start = records[-1][TRIAL_ID_COLUMN], len(records)
    while start > 0 and records[start - 1][TRIAL_ID_COLUMN] == trial_id:
        start -= 1
    criteria = {record[CRITERION_COLUMN] for record in records[start:]}
    return len(records) if criteria >= set(CRITERIA) else start


def not_regular(mode: int) -> str | None:
    """What a file of this `st_mode` is when it is not a regular file ("a FIFO (named pipe)"), else None."""
    if stat.S_ISREG(mode):
        return None
    return next((what for test, what in _FILE_KINDS if test(mode)), "not a regular file")


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
        # os.stat before any open: opening a FIFO would block (or send the rows into a pipe), a device would swallow
        # them (/dev/null) or refuse every vote (/dev/full). stat follows a symlink: a link to a regular file is fine.
        try:
            mode = os.stat(self.path).st_mode
        except OSError:
            mode = None  # not there yet (created below), or a path whose folder is missing or is a file: said below
        if mode is not None and stat.S_ISDIR(mode):
            raise VoteStoreError(
                f"votes path {str(self.path)!r} is a folder, not a regular file; "
                f"give a file, e.g. {self.path}/votes.csv"
            )
        if mode is not None and not_regular(mode):
            raise VoteStoreError(self._not_regular_message(mode))
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
            start = self._offset  # after _sync the file ends here, after the last whole ballot
            payload = encode_rows(rows, header=start == 0)
            try:
                view = memoryview(payload)
                while view:  # os.write may write less than asked (a signal, a full disk): write the rest
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            except OSError as err:
                self._undo(fd, start, err)
            if self._offset == 0:
                self._fsync_folder()  # a new file's name must survive a crash too
            self._offset += len(payload)
            self._trial_ids |= trial_ids

    def _undo(self, fd: int, start: int, err: OSError) -> None:
        """A ballot's write failed: cut the file back to `start` (the locks are still held, so no other writer's rows
        can follow ours) and refuse the vote. Always raises VoteStoreError."""
        try:
            os.ftruncate(fd, start)
            os.fsync(fd)
        except OSError as cut:
            # Left as a damaged tail: the next sync moves it to the side file before anything else is written.
            raise VoteStoreError(
                f"could not write the vote to {str(self.path)!r} ({err.strerror or err}) nor remove its partial rows "
                f"({cut.strerror or cut}); they will be moved to {str(self.damaged_path)!r}: try again"
            ) from None
        raise VoteStoreError(
            f"could not write the vote to {str(self.path)!r}: {err.strerror or err}; nothing of it was kept: try again"
        ) from None

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
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as err:
            raise VoteStoreError(f"cannot open the votes file {str(self.path)!r} to write: {err.strerror}") from None
        mode = os.fstat(fd).st_mode  # checked at start too (`open`); the path may have been replaced since
        if not_regular(mode):
            os.close(fd)
            raise VoteStoreError(self._not_regular_message(mode))
        return fd

    def _not_regular_message(self, mode: int) -> str:
        link = f" (a symlink to {os.path.realpath(self.path)!r})" if self.path.is_symlink() else ""
        return (
            f"votes path {str(self.path)!r}{link} is {not_regular(mode)}, not a regular file: every vote would be "
            "lost or refused; give a file on a disk, e.g. votes/votes.csv"
        )

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
        ends = record_ends(data)
        end = ends[-1] if ends else 0
        try:
            text = data[:end].decode("utf-8")
        except UnicodeDecodeError as err:
            raise VoteStoreError(
                f"votes file {str(self.path)!r} is not UTF-8 text (byte {self._offset + err.start}); "
                "move it away or pass another --votes file"
            ) from None
        records = list(csv.reader(io.StringIO(text, newline="")))
        first = 0  # where the first row starts: after the header in a new file
        if self._offset == 0 and records:
            records, first, ends = records[1:], ends[0], ends[1:]  # the header, checked above
        for record in records:
            if len(record) != len(CSV_COLUMNS):
                raise VoteStoreError(
                    f"votes file {str(self.path)!r} holds a row of {len(record)} fields, expected "
                    f"{len(CSV_COLUMNS)} (trial {record[TRIAL_ID_COLUMN] if len(record) > TRIAL_ID_COLUMN else '?'}); "
                    "repair or move the file"
                )
        if len(records) == len(ends):  # always for our files; for a foreign split, whole records are kept
            keep = last_ballot_start(records)
            if keep < len(records):
                end = ends[keep - 1] if keep else first
                records = records[:keep]
        if end < len(data):
            self._move_tail(fd, self._offset + end, data[end:])
        for record in records:
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
        """Keep a partial last ballot in the side file first, then cut it from the CSV: it is never lost. Once only:
        when a cut failed after the copy, the side file already ends with this tail and it is not copied again
        (two different crashes leaving byte-identical tails, timestamps and trial ids included, cannot happen)."""
        kept = tail + b"\n"
        try:
            with self.damaged_path.open("a+b") as side:
                size = side.seek(0, os.SEEK_END)
                if size < len(kept) or os.pread(side.fileno(), len(kept), size - len(kept)) != kept:
                    side.write(kept)
                    side.flush()
                    os.fsync(side.fileno())
            os.ftruncate(fd, at)
            os.fsync(fd)
        except OSError as err:
            raise VoteStoreError(
                f"votes file {str(self.path)!r} ends in a partial ballot that could not be moved to "
                f"{str(self.damaged_path)!r}: {err.strerror or err}; try again"
            ) from None
        logger.warning(
            "votes file %s ended in a partial row or ballot (%d bytes at byte %d): moved to %s",
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
