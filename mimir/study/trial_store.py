"""Open trials on disk (SQLite, from the standard library), beside the votes, so a restart keeps every open trial
votable; and the server-side "watched both" rule.

A trial is kept server-side because its side assignment must never reach the voter. It is stored when its videos
are handed out, with that time and how long its clips play; it expires after `TRIAL_MAX_AGE` (our choice: a day, long
past any real viewing) and is then refused as expired and purged.

"Watched both" (our rule, enforced here, not only by the page's disabled button): a vote on a trial is accepted
only after the server has sent both of its video files (`mark_fetched`, called for every successful download of
``trial-<id>-A.mp4`` / ``-B.mp4``), **or** once `watch_seconds` have passed since the trial was handed out; the app
sets that to the time it takes to play both clips one after the other. A vote sent right after ``/new_trial``
without fetching the videos is refused with the seconds left to wait.

One vote per trial is enforced by the vote file itself (`vote_store.VoteStore`), not here: the CSV is the source of
truth, and a vote written just before a crash must still count after the restart.
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

from .trial import Trial


TRIAL_MAX_AGE = 24 * 3600.0  # seconds an open trial stays votable (our choice)
SIDES = ("A", "B")


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
        """Create the table if needed. Raises TrialStoreError when the file cannot be created or read."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(
                    "CREATE TABLE IF NOT EXISTS trials (trial_id TEXT PRIMARY KEY, created REAL NOT NULL, "
                    "watch_seconds REAL NOT NULL, fetched_a INTEGER NOT NULL DEFAULT 0, "
                    "fetched_b INTEGER NOT NULL DEFAULT 0, trial TEXT NOT NULL)"
                )
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

    def add(self, trial: Trial, watch_seconds: float) -> None:
        """Store a trial whose videos are being handed out now; purge expired ones."""
        now = self.clock()
        with self._connect() as db:
            db.execute("DELETE FROM trials WHERE created < ?", (now - self.max_age,))
            db.execute(
                "INSERT INTO trials (trial_id, created, watch_seconds, trial) VALUES (?, ?, ?, ?)",
                (trial.trial_id, now, float(watch_seconds), json.dumps(asdict(trial))),
            )

    def _row(self, trial_id: str) -> tuple:
        with self._connect() as db:
            row = db.execute(
                "SELECT created, watch_seconds, fetched_a, fetched_b, trial FROM trials WHERE trial_id = ?",
                (trial_id,),
            ).fetchone()
        if row is None:
            raise ValueError(f"unknown trial id {trial_id!r}: start a new trial first")
        if self.clock() - row[0] > self.max_age:
            raise ValueError(
                f"trial {trial_id!r} expired: trials stay open {self.max_age / 3600:g} h; start a new trial"
            )
        return row

    def get(self, trial_id: str) -> Trial:
        """The open trial; ValueError when unknown or expired."""
        return Trial(**json.loads(self._row(str(trial_id).strip())[4]))

    def mark_fetched(self, trial_id: str, side: Literal["A", "B"]) -> None:
        """The server sent this side's video file (unknown ids are ignored: a file may outlive its trial)."""
        column = {"A": "fetched_a", "B": "fetched_b"}[side]
        with self._connect() as db:
            db.execute(f"UPDATE trials SET {column} = 1 WHERE trial_id = ?", (trial_id,))

    def check_watched(self, trial_id: str) -> None:
        """The "watched both" rule (module docstring). Raises ValueError naming what is missing and the wait left."""
        created, watch_seconds, fetched_a, fetched_b, _ = self._row(str(trial_id).strip())
        if fetched_a and fetched_b:
            return
        left = watch_seconds - (self.clock() - created)
        if left <= 0:
            return
        missing = " and ".join(side for side, done in zip(SIDES, (fetched_a, fetched_b)) if not done)
        raise ValueError(
            f"vote on trial {trial_id!r} refused: play both videos first (video {missing} not loaded yet); "
            f"a vote counts once both videos were loaded or {watch_seconds:.1f} s after the trial, "
            f"{left:.1f} s from now"
        )
