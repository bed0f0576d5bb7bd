"""Open trials on disk (SQLite, from the standard library), beside the votes, so a restart keeps every open trial
votable; the session each trial belongs to; and the server-side "watched both" rule.

A trial is kept server-side because its side assignment must never reach the voter. It is stored when its videos
are handed out, with that time, how long its clips play and the *owner*: a key of the session that asked for it
(the app's anonymous session hash). Only that session may vote on it (`get(trial_id, owner=...)`); another gets "was
handed to another session". A trial leaves the file once its ballot is in the vote file (`remove`, called by the
vote flow) or when it expires after `TRIAL_MAX_AGE` (our choice: a day, long past any real viewing; expired trials are
purged when a trial is added and when the file is opened).

"Watched both" (our rule, enforced here, not only by the page's disabled button): a vote on a trial is accepted
only when the server has sent **both** of its video files **whole** (`mark_fetched(..., complete=True)`: the app's
download middleware says so only when the bytes sent cover the whole file, so a `Range: bytes=0-0` request never
counts), **and** at least `watch_seconds` have passed since the *first* whole download; the app sets that to the time
it takes to play both clips one after the other. Waiting alone never opens the vote. A refusal says what is missing
and the seconds left.

One vote per trial is enforced by the vote file itself (`vote_store.VoteStore`), not here: the CSV is the source of
truth, and a vote written just before a crash must still count after the restart.

Older trial files (without the owner and first-download columns) are migrated when opened: their trials stay
readable and votable by any session (they were handed out before sessions were recorded), and their download flags
are cleared, because the old flags counted any response, even of one byte.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Literal

from mimir.checks import shown

from .trial import Trial


TRIAL_MAX_AGE = 24 * 3600.0  # seconds an open trial stays votable (our choice)
SIDES = ("A", "B")
ANY_OWNER = ""  # the owner of a trial stored by a version that did not record one


class TrialStoreError(RuntimeError):
    """The trial file cannot be used; the message names the path and why."""


def trial_store_path(votes_path: str | Path) -> Path:
    """``votes/votes.csv`` -> ``votes/votes.trials.sqlite``: the open trials live beside the votes they await."""
    votes_path = Path(votes_path)
    return votes_path.with_name(votes_path.stem + ".trials.sqlite")


class TrialStore:
    """Trials awaiting a vote, in one SQLite file; safe across threads and processes (one connection per call)."""

    def __init__(
        self, path: str | Path, max_age: float = TRIAL_MAX_AGE, clock: Callable[[], float] = time.time
    ) -> None:
        self.path = Path(path)
        self.max_age = max_age
        self.clock = clock

    def open(self) -> TrialStore:
        """Create or migrate the table and purge expired trials. Raises TrialStoreError when the file cannot be
        created or read."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS trials (trial_id TEXT PRIMARY KEY, created REAL NOT NULL, "
                    "watch_seconds REAL NOT NULL, fetched_a INTEGER NOT NULL DEFAULT 0, "
                    "fetched_b INTEGER NOT NULL DEFAULT 0, trial TEXT NOT NULL)"
                )
                columns = {row[1] for row in db.execute("PRAGMA table_info(trials)")}
                if "owner" not in columns:
                    db.execute(f"ALTER TABLE trials ADD COLUMN owner TEXT NOT NULL DEFAULT '{ANY_OWNER}'")
                if "first_complete" not in columns:  # seconds since the epoch of the first whole download
                    db.execute("ALTER TABLE trials ADD COLUMN first_complete REAL")
                    db.execute("UPDATE trials SET fetched_a = 0, fetched_b = 0")  # old flags: any response counted
                self._purge_expired(db)
        except (OSError, sqlite3.Error) as err:
            raise TrialStoreError(f"cannot use the trial file {str(self.path)!r}: {err}") from None
        return self

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30)
        try:
            with db:  # one transaction: committed on success, rolled back on an exception
                yield db
        finally:
            db.close()

    def _purge_expired(self, db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM trials WHERE created < ?", (self.clock() - self.max_age,))

    def add(self, trial: Trial, watch_seconds: float, *, owner: str) -> None:
        """Store a trial whose videos are being handed out now to the session keyed `owner`; purge expired ones."""
        if not isinstance(owner, str) or not owner:
            raise ValueError(
                f"a trial needs its session's owner key (got {shown(owner)}): without one any session could vote on it"
            )
        with self._connect() as db:
            self._purge_expired(db)
            db.execute(
                "INSERT INTO trials (trial_id, created, watch_seconds, trial, owner) VALUES (?, ?, ?, ?, ?)",
                (trial.trial_id, self.clock(), float(watch_seconds), json.dumps(asdict(trial)), owner),
            )

    def remove(self, trial_id: str) -> None:
        """Purge a trial once its ballot is in the vote file (the vote file then refuses a second vote anyway)."""
        with self._connect() as db:
            db.execute("DELETE FROM trials WHERE trial_id = ?", (str(trial_id).strip(),))

    def _row(self, trial_id: str) -> tuple:
        """(created, watch_seconds, fetched_a, fetched_b, trial JSON, owner, first_complete) of an open trial."""
        with self._connect() as db:
            row = db.execute(
                "SELECT created, watch_seconds, fetched_a, fetched_b, trial, owner, first_complete FROM trials "
                "WHERE trial_id = ?",
                (trial_id,),
            ).fetchone()
        if row is None:
            raise ValueError(f"unknown trial id {shown(trial_id)}: start a new trial first")
        if self.clock() - row[0] > self.max_age:
            raise ValueError(
                f"trial {shown(trial_id)} expired: trials stay open {self.max_age / 3600:g} h; start a new trial"
            )
        return row

    def get(self, trial_id: str, *, owner: str) -> Trial:
        """The open trial, for the session keyed `owner` only. ValueError when unknown, expired, or handed to another
        session (a trial from before owners were recorded is open to any session)."""
        trial_id = str(trial_id).strip()
        row = self._row(trial_id)
        if row[5] != ANY_OWNER and row[5] != owner:
            raise ValueError(
                f"trial {shown(trial_id)} was handed to another session: vote on the trials shown to you; "
                "start a new trial"
            )
        return Trial(**json.loads(row[4]))

    def mark_fetched(self, trial_id: str, side: Literal["A", "B"], complete: bool) -> None:
        """The server sent this side's video file; it counts only when `complete` (the bytes sent cover the whole
        file). The first whole download of either side starts the watch time. Unknown ids are ignored: a file may
        outlive its trial."""
        if not complete:
            return  # a range request, a cut connection: not a watched video
        column = {"A": "fetched_a", "B": "fetched_b"}[side]
        with self._connect() as db:
            db.execute(
                f"UPDATE trials SET {column} = 1, first_complete = COALESCE(first_complete, ?) WHERE trial_id = ?",
                (self.clock(), str(trial_id)),
            )

    def check_watched(self, trial_id: str) -> None:
        """The "watched both" rule (module docstring). Raises ValueError naming what is missing and the wait left."""
        trial_id = str(trial_id).strip()
        _, watch_seconds, fetched_a, fetched_b, _, _, first_complete = self._row(trial_id)
        left = watch_seconds if first_complete is None else watch_seconds - (self.clock() - first_complete)
        rule = f"a vote counts once both videos were loaded whole and played ({watch_seconds:.1f} s from the first)"
        if not (fetched_a and fetched_b):
            missing = " and ".join(side for side, done in zip(SIDES, (fetched_a, fetched_b)) if not done)
            raise ValueError(
                f"vote on trial {shown(trial_id)} refused: play both videos first (video {missing} not loaded yet; "
                f"only a whole download counts); {rule}: at least {max(left, 0.0):.1f} s from now"
            )
        if left > 0:
            raise ValueError(
                f"vote on trial {shown(trial_id)} refused: both videos loaded, watch them first; {rule}: "
                f"{left:.1f} s from now"
            )
