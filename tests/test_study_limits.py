"""Trials on disk and the "watched both" rule, the vote rate limit, the output folder (fast, no models)."""

import os
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
    TrialStore(path).open().add(trial, watch_seconds=5)
    again = TrialStore(path).open().get(trial.trial_id)  # a new process would see the same
    assert again == trial


def test_unknown_and_expired_trials_are_refused(tmp_path):
    clock = Clock()
    store = TrialStore(tmp_path / "t.sqlite", max_age=3600, clock=clock).open()
    trial = new_trial()
    store.add(trial, watch_seconds=5)
    with pytest.raises(ValueError, match="unknown trial id 'nope'"):
        store.get("nope")
    clock.now += 3601
    with pytest.raises(ValueError, match=f"trial '{trial.trial_id}' expired: trials stay open 1 h"):
        store.get(trial.trial_id)
    store.add(new_trial(), watch_seconds=5)  # adding purges expired trials
    with pytest.raises(ValueError, match="unknown trial id"):
        store.get(trial.trial_id)


def test_watched_both_rule(tmp_path):
    clock = Clock()
    store = TrialStore(tmp_path / "t.sqlite", clock=clock).open()
    by_fetch, by_time = new_trial(), new_trial()
    store.add(by_fetch, watch_seconds=5.6)
    store.add(by_time, watch_seconds=5.6)
    with pytest.raises(ValueError) as err:
        store.check_watched(by_fetch.trial_id)
    assert "video A and B not loaded yet" in str(err.value) and "5.6 s after the trial, 5.6 s from now" in str(err)
    store.mark_fetched(by_fetch.trial_id, "A")
    with pytest.raises(ValueError, match="video B not loaded yet"):
        store.check_watched(by_fetch.trial_id)
    store.mark_fetched(by_fetch.trial_id, "B")
    store.check_watched(by_fetch.trial_id)  # both fetched: accepted at once
    clock.now += 5.0
    with pytest.raises(ValueError, match="0.6 s from now"):
        store.check_watched(by_time.trial_id)
    clock.now += 0.6
    store.check_watched(by_time.trial_id)  # or the time to play both has passed
    store.mark_fetched("not-a-trial", "A")  # a file can outlive its trial: ignored


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
