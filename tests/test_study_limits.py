"""Trials on disk and the "watched both" rule, the vote rate limit, the output folder (fast, no models)."""

import dataclasses
import json
import os
import sqlite3
import time

import pytest

from mimir.outputs import OutputFolder
from mimir.study import trials
from mimir.study.rate_limit import RateLimit
from mimir.study.trial_store import TrialStore, TrialStoreError, trial_store_path
from tests.study_data import SETTINGS


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def new_trial() -> trials.Trial:
    return trials.TrialFactory(["a red circle"], seed=0).new_trial(SETTINGS, preset="nano")


def test_trial_store_path_sits_beside_the_votes():
    assert str(trial_store_path("votes/votes.csv")) == "votes/votes.trials.sqlite"


def test_trials_survive_a_restart(tmp_path):
    path = tmp_path / "t.sqlite"
    trial = new_trial()
    trial.seconds_left = 1.25
    TrialStore(path).open().add(trial, watch_seconds=5, owner="s1")
    again = TrialStore(path).open().get(trial.trial_id, owner="s1")  # a new process would see the same
    assert again == trial


def test_unknown_and_expired_trials_are_refused(tmp_path):
    clock = Clock()
    store = TrialStore(tmp_path / "t.sqlite", max_age=3600, clock=clock).open()
    trial = new_trial()
    store.add(trial, watch_seconds=5, owner="s1")
    with pytest.raises(ValueError, match="unknown trial id 'nope'"):
        store.get("nope", owner="s1")
    clock.now += 3601
    with pytest.raises(ValueError, match=f"trial '{trial.trial_id}' expired: trials stay open 1 h"):
        store.get(trial.trial_id, owner="s1")
    store.add(new_trial(), watch_seconds=5, owner="s1")  # adding purges expired trials
    with pytest.raises(ValueError, match="unknown trial id"):
        store.get(trial.trial_id, owner="s1")


def test_watched_both_rule(tmp_path):
    """Both files sent whole, then the time to play both from the first whole download (issue 22: the old rule's
    acceptances, "both fetched: accepted at once" and "or the time to play both has passed", were the bug)."""
    clock = Clock()
    store = TrialStore(tmp_path / "t.sqlite", clock=clock).open()
    trial = new_trial()
    store.add(trial, watch_seconds=5.6, owner="s1")
    with pytest.raises(ValueError) as err:
        store.check_watched(trial.trial_id)
    assert "video A and B not loaded yet" in str(err.value) and "5.6 s" in str(err.value)
    store.mark_fetched(trial.trial_id, "A", complete=True)
    with pytest.raises(ValueError, match="video B not loaded yet"):
        store.check_watched(trial.trial_id)
    clock.now += 2.0
    store.mark_fetched(trial.trial_id, "B", complete=True)
    with pytest.raises(ValueError, match=r"both videos loaded.* 3\.6 s from now"):
        store.check_watched(trial.trial_id)  # timed from the first whole download, A's
    clock.now += 3.6
    store.check_watched(trial.trial_id)
    store.mark_fetched("not-a-trial", "A", complete=True)  # a file can outlive its trial: ignored


def test_range_requests_of_one_byte_do_not_count(tmp_path):
    """Two `Range: bytes=0-0` requests (HTTP 206, one byte each) are not a watched video."""
    clock = Clock()
    store = TrialStore(tmp_path / "t.sqlite", clock=clock).open()
    trial = new_trial()
    store.add(trial, watch_seconds=5.6, owner="s1")
    store.mark_fetched(trial.trial_id, "A", complete=False)
    store.mark_fetched(trial.trial_id, "B", complete=False)
    clock.now += 100
    with pytest.raises(ValueError, match="video A and B not loaded yet"):
        store.check_watched(trial.trial_id)


def test_waiting_alone_does_not_count(tmp_path):
    clock = Clock()
    store = TrialStore(tmp_path / "t.sqlite", clock=clock).open()
    trial = new_trial()
    store.add(trial, watch_seconds=5.6, owner="s1")
    clock.now += 3000
    with pytest.raises(ValueError, match="video A and B not loaded yet"):
        store.check_watched(trial.trial_id)
    store.mark_fetched(trial.trial_id, "A", complete=True)
    store.mark_fetched(trial.trial_id, "B", complete=True)
    with pytest.raises(ValueError, match=r"5\.6 s from now"):
        store.check_watched(trial.trial_id)  # the wait before the downloads does not count either


def test_a_trial_is_votable_only_by_its_session(tmp_path):
    store = TrialStore(tmp_path / "t.sqlite").open()
    trial = new_trial()
    store.add(trial, watch_seconds=0, owner="session-one")
    assert store.get(trial.trial_id, owner="session-one") == trial
    with pytest.raises(ValueError, match=f"trial '{trial.trial_id}' was handed to another session"):
        store.get(trial.trial_id, owner="session-two")
    with pytest.raises(ValueError, match="owner"):
        store.add(new_trial(), watch_seconds=0, owner="")  # no key: anyone could vote on it


def test_an_old_trial_file_is_migrated_and_its_trials_stay_readable(tmp_path):
    """A trial file of the previous version (no owner column): opened, its trials still readable and votable after
    two whole downloads; new trials get owners."""
    path = tmp_path / "t.sqlite"
    old = new_trial()
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE trials (trial_id TEXT PRIMARY KEY, created REAL NOT NULL, "
            "watch_seconds REAL NOT NULL, fetched_a INTEGER NOT NULL DEFAULT 0, "
            "fetched_b INTEGER NOT NULL DEFAULT 0, trial TEXT NOT NULL)"
        )
        db.execute(
            "INSERT INTO trials (trial_id, created, watch_seconds, fetched_a, fetched_b, trial) "
            "VALUES (?, ?, ?, 1, 1, ?)",
            (old.trial_id, time.time(), 0.0, json.dumps(dataclasses.asdict(old))),
        )
    db.close()
    store = TrialStore(path).open()
    assert store.get(old.trial_id, owner="anyone") == old  # handed out before sessions were recorded
    with pytest.raises(ValueError, match="not loaded yet"):
        store.check_watched(old.trial_id)  # the old flags counted any response, even one byte
    store.mark_fetched(old.trial_id, "A", complete=True)
    store.mark_fetched(old.trial_id, "B", complete=True)
    store.check_watched(old.trial_id)
    fresh = new_trial()
    store.add(fresh, watch_seconds=0, owner="s1")
    with pytest.raises(ValueError, match="another session"):
        TrialStore(path).open().get(fresh.trial_id, owner="s2")


def test_voted_and_expired_trials_are_purged_from_the_file(tmp_path):
    clock = Clock()
    path = tmp_path / "t.sqlite"
    store = TrialStore(path, max_age=3600, clock=clock).open()
    voted, old, open_ = new_trial(), new_trial(), new_trial()
    store.add(old, watch_seconds=0, owner="s1")
    clock.now += 3000
    store.add(voted, watch_seconds=0, owner="s1")
    store.add(open_, watch_seconds=0, owner="s1")
    store.remove(voted.trial_id)  # the app calls this once the ballot is in the vote file
    clock.now += 601
    TrialStore(path, max_age=3600, clock=clock).open()  # a start sweeps expired trials
    with sqlite3.connect(path) as db:
        ids = {row[0] for row in db.execute("SELECT trial_id FROM trials")}
    db.close()
    assert ids == {open_.trial_id}


def test_a_huge_trial_id_is_never_echoed_whole(tmp_path):
    store = TrialStore(tmp_path / "t.sqlite").open()
    huge = "f" * (1 << 20)
    for call in (lambda: store.get(huge, owner="s1"), lambda: store.check_watched(huge)):
        with pytest.raises(ValueError) as err:
            call()
        assert len(str(err.value)) < 300 and "ffff" in str(err.value)
    store.mark_fetched(huge, "A", complete=True)  # ignored, like any unknown id


def test_unusable_trial_file_is_refused(tmp_path):
    (tmp_path / "dir.sqlite").mkdir()
    with pytest.raises(TrialStoreError, match="cannot use the trial file"):
        TrialStore(tmp_path / "dir.sqlite").open()
    (tmp_path / "junk.sqlite").write_bytes(b"not a database" * 100)
    with pytest.raises(TrialStoreError, match="junk.sqlite"):
        TrialStore(tmp_path / "junk.sqlite").open()


def test_rate_limit_counts_only_completed_events():
    clock = Clock()
    limit = RateLimit(3, 60.0, what="votes", clock=clock)
    for _ in range(3):
        with limit.take("s1"):
            pass
    with pytest.raises(ValueError, match="too many votes from this session: at most 3 per 60 s; try again in 60 s"):
        with limit.take("s1"):
            pass
    with limit.take("s2"):  # per session
        pass
    with pytest.raises(RuntimeError), limit.take("s2"):
        raise RuntimeError("refused ballot")  # gives its slot back
    with limit.take("s2"), limit.take("s2"):
        pass
    clock.now += 60.5
    with limit.take("s1"):  # the window slid
        pass


def _write(folder, name: str, size: int, mtime: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_bytes(b"x" * size)
    os.utime(path, (mtime, mtime))


def test_output_folder_sweeps_by_age_and_size(tmp_path):
    out = OutputFolder(tmp_path / "app", max_age_seconds=100, max_bytes=2500)
    now = time.time()
    _write(out.root / "old", "a.mp4", 10, now - 200)
    _write(out.root / "b1", "a.mp4", 1000, now - 50)
    _write(out.root / "b2", "a.mp4", 1000, now - 40)
    _write(out.root / "b3", "a.mp4", 1000, now - 30)
    removed = out.sweep(now)
    assert {p.name for p in removed} == {"old", "b1"}  # too old, then the oldest beyond 2500 bytes
    assert out.size_bytes() == 2000
    folder = out.new_folder()
    assert folder.parent == out.root and len(folder.name) == 32 and not folder.exists()
    out.remove_all()
    assert not out.root.exists()


def test_output_folder_keeps_the_newest_even_when_alone_too_big(tmp_path):
    out = OutputFolder(tmp_path / "app", max_bytes=10)
    _write(out.root / "only", "big.mp4", 100, time.time())
    assert out.sweep() == [] and (out.root / "only" / "big.mp4").exists()
