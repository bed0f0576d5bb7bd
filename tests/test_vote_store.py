"""The vote file: whole-row durable appends across threads and processes, damaged-tail repair, the start-up check,
formula-injection neutralisation (fast, no models)."""

import csv
import logging
import multiprocessing
import os
import threading
from pathlib import Path

import pandas as pd
import pytest

from mimir.study import trials, votes
from mimir.study.vote_store import VoteStore, VoteStoreError, complete_length
from tests.study_data import BALLOT, SETTINGS
from tests.vote_worker import append_many


HEADER = (",".join(votes.CSV_COLUMNS) + "\r\n").encode()
FACTORY = trials.TrialFactory(["a red circle"], seed=0)


def ballot_rows(prompt: str = "a red circle", session: str = "s1") -> list[dict]:
    trial = FACTORY.new_trial(SETTINGS, preset="nano")
    trial.prompt = prompt  # as given: the factory strips whitespace (a leading tab) off the prompts it draws
    return votes.vote_rows(trial, BALLOT, session_id=session, app_version="test")


def physical_lines(path: Path) -> list[str]:
    return path.read_bytes().decode().split("\r\n")


def test_header_once_whole_rows(tmp_path):
    path = tmp_path / "v" / "votes.csv"
    store = VoteStore(path).open()
    store.append(ballot_rows())
    store.append(ballot_rows())
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(votes.CSV_COLUMNS) and len(rows) == 7
    assert sum(r == list(votes.CSV_COLUMNS) for r in rows) == 1
    assert path.read_bytes().endswith(b"\r\n")


def test_appends_are_fsynced(tmp_path, monkeypatch):
    """The vote is on disk before append returns: the CSV and (new file) its folder are fsync'd."""
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")), real(fd)))
    path = tmp_path / "votes.csv"
    store = VoteStore(path).open()
    store.append(ballot_rows())
    assert str(path) in synced and str(tmp_path) in synced


def test_one_vote_per_trial_even_from_another_store(tmp_path):
    path = tmp_path / "votes.csv"
    rows = ballot_rows()
    VoteStore(path).open().append(rows)
    other = VoteStore(path).open()  # another process's view, or the app after a restart
    with pytest.raises(ValueError, match=f"trial '{rows[0]['trial_id']}' already has a vote"):
        other.append(rows)
    assert len(other.read()) == 3


def test_damaged_tail_moved_aside_not_glued(tmp_path, caplog):
    path = tmp_path / "votes.csv"
    store = VoteStore(path).open()
    store.append(ballot_rows())
    good = path.read_bytes()
    partial = b"2026-01-01T00:00:00.000000Z,abc,deadbeef,a half wri"
    with path.open("ab") as f:  # a crash in the middle of another writer's row
        f.write(partial)
    with caplog.at_level(logging.WARNING, logger="mimir.study.vote_store"):
        store.append(ballot_rows())  # the same store: the tail is checked before every append
    assert path.read_bytes().startswith(good)
    assert partial not in path.read_bytes()
    assert (tmp_path / "votes.csv.damaged").read_bytes() == partial + b"\n"
    [record] = [r for r in caplog.records if "partial row" in r.getMessage()]
    assert f"({len(partial)} bytes at byte {len(good)}" in record.getMessage()
    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    assert len(df) == 6 and (df["app_version"] == "test").all()  # every row whole, to its last column


def test_damaged_tail_repaired_at_start(tmp_path):
    path = tmp_path / "votes.csv"
    VoteStore(path).open().append(ballot_rows())
    with path.open("ab") as f:
        f.write(b'2026,"a prompt with a\nnewline')  # cut inside a quoted field that holds a newline
    VoteStore(path).open()
    assert len(votes.load_votes(path)) == 3
    assert (tmp_path / "votes.csv.damaged").read_bytes() == b'2026,"a prompt with a\nnewline\n'


def test_quoted_newlines_are_whole_records():
    assert complete_length(b'a,"x\ny"\n') == 8
    assert complete_length(b'a,"x\ny') == 0
    assert complete_length(b'a,b\nc,"d\n') == 4
    assert complete_length(b'a,"say ""hi""\nthere"\nb') == 21


def test_prompt_with_newline_and_quotes_round_trips(tmp_path):
    path = tmp_path / "votes.csv"
    store = VoteStore(path).open()
    prompt = 'a "red"\ncircle, then\r\na square'
    store.append(ballot_rows(prompt))
    store.append(ballot_rows())
    assert VoteStore(path).open().read()["prompt"].tolist() == [prompt] * 3 + ["a red circle"] * 3
    assert not (tmp_path / "votes.csv.damaged").exists()


@pytest.mark.parametrize("start", ["=", "+", "-", "@", "\t", "\r", "'"])
def test_formula_cells_are_neutralised_and_read_back(tmp_path, start):
    path = tmp_path / "votes.csv"
    prompt = f'{start}HYPERLINK("http://x")+1'
    VoteStore(path).open().append(ballot_rows(prompt, session=f"{start}cmd|' /C calc'!A0"))
    with path.open(newline="") as f:
        raw = list(csv.DictReader(f))
    # what a spreadsheet sees: text, never a formula
    assert all(r["prompt"] == "'" + prompt and r["session_id"].startswith("'") for r in raw)
    df = votes.load_votes(path)
    assert df["prompt"].tolist() == [prompt] * 3
    assert df["session_id"].tolist() == [f"{start}cmd|' /C calc'!A0"] * 3


def test_plain_text_is_not_touched():
    assert votes.neutralise("a red circle") == "a red circle" and votes.neutralise(7) == 7
    assert votes.restore(votes.neutralise("'=1")) == "'=1"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "folder", "is a folder"),
        (lambda tmp: Path("/proc/mimir-votes.csv"), "cannot open the votes file"),  # unwritable even for root
        (lambda tmp: (tmp / "file").write_text("x") and tmp / "file" / "votes.csv", "cannot create the folder"),
        (lambda tmp: (tmp / "v.csv").write_bytes(b"\xff\xfe bad") and tmp / "v.csv", "is not UTF-8 text (byte 0)"),
        (lambda tmp: (tmp / "v.csv").write_text("a,b\n1,2\n") and tmp / "v.csv", "has header ['a', 'b']"),
        (lambda tmp: (tmp / "v.csv").write_text("a,b") and tmp / "v.csv", "has header ['a', 'b']"),  # not a tail
        (
            lambda tmp: (tmp / "v.csv").write_bytes(HEADER + b"x,\xff\r\n") and tmp / "v.csv",
            f"is not UTF-8 text (byte {len(HEADER) + 2})",
        ),
        (
            lambda tmp: (tmp / "v.csv").write_text(",".join(votes.CSV_COLUMNS) + "\r\nx,y\r\n") and tmp / "v.csv",
            "holds a row of 2 fields",
        ),
    ],
)
def test_unusable_path_is_refused_at_start(tmp_path, make, message):
    (tmp_path / "folder").mkdir()
    path = make(tmp_path)
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(VoteStoreError) as err:
        VoteStore(path).open()
    assert message in str(err.value) and str(path) in str(err.value)
    if before is not None:
        assert path.read_bytes() == before  # a refused file is left as it was


def test_processes_and_threads_never_interleave(tmp_path):
    path = tmp_path / "votes.csv"
    ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing shared but the file and its lock
    procs = [ctx.Process(target=append_many, args=(str(path), w, 15)) for w in range(3)]
    for p in procs:
        p.start()
    threads = [threading.Thread(target=append_many, args=(str(path), w, 15)) for w in (97, 98)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for p in procs:
        p.join(timeout=120)
        assert p.exitcode == 0
    df = votes.load_votes(path)
    assert len(df) == 5 * 15 * 3 and df["trial_id"].nunique() == 5 * 15
    assert (df.groupby("trial_id").size() == 3).all()
    with path.open(newline="") as f:
        assert all(len(r) == len(votes.CSV_COLUMNS) for r in csv.reader(f))
