"""The vote file: whole-row durable appends across threads and processes, damaged-tail repair, the start-up check,
formula-injection neutralisation (fast, no models)."""

import csv
import errno
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import threading
from pathlib import Path

import pandas as pd
import pytest

from mimir.study import trials, votes
from mimir.study.vote_store import VoteStore, VoteStoreError, complete_length, encode_rows
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


# ---- a ballot is all or nothing (issue 22, failure 1) -----------------------------------------------------------

# Appends in a process whose file-size limit (`ulimit -f`) is set just above the file's size, SIGXFSZ ignored as a
# server would (the kernel then refuses the write with EFBIG instead of killing the process).
SIZE_LIMIT_SCRIPT = """
import errno, json, resource, signal, sys
from mimir.study.vote_store import VoteStore, VoteStoreError
path, rows, retry = sys.argv[1], json.loads(sys.argv[2]), json.loads(sys.argv[3])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
store = VoteStore(path).open()
size = store.snapshot().__len__()
soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 200, hard))  # less than a ballot (~3 x 120 bytes)
refusals = []
for _ in range(3):
    try:
        store.append(rows)
    except VoteStoreError as err:
        refusals.append(str(err))
resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))  # the cause is gone
store.append(retry)
print(json.dumps(refusals))
"""


def test_a_size_limit_leaves_no_row_and_the_retry_succeeds(tmp_path):
    path = tmp_path / "votes.csv"
    VoteStore(path).open().append(ballot_rows())
    before = path.read_bytes()
    rows = ballot_rows()
    out = subprocess.run(
        [sys.executable, "-c", SIZE_LIMIT_SCRIPT, str(path), json.dumps(rows), json.dumps(rows)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[1],
    )
    assert out.returncode == 0, out.stderr
    refusals = json.loads(out.stdout)
    assert len(refusals) == 3 and all("nothing of it was kept" in r and "try again" in r for r in refusals)
    df = votes.load_votes(path)
    assert path.read_bytes().startswith(before) and len(df) == 6  # the first ballot, then the retry, whole
    assert (df.groupby("trial_id").size() == 3).all()
    assert not (tmp_path / "votes.csv.damaged").exists()  # nothing partial was ever left to repair


def _failing_write(monkeypatch, error: int, after: int = 100):
    """`os.write` that writes `after` bytes once, then fails with `error` (a disk that fills up, a failing device)."""
    real = os.write
    state = {"failed": False}

    def write(fd, data):
        if state["failed"]:
            return real(fd, data)
        state["failed"] = True
        real(fd, bytes(data[:after]))
        raise OSError(error, os.strerror(error))

    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EIO])
def test_a_failed_write_leaves_no_row_and_the_retry_succeeds(tmp_path, monkeypatch, error):
    path = tmp_path / "votes.csv"
    store = VoteStore(path).open()
    store.append(ballot_rows())
    before = path.read_bytes()
    rows = ballot_rows()
    _failing_write(monkeypatch, error, after=len(encode_rows(rows[:2])) + 10)  # two whole rows and a bit
    with pytest.raises(VoteStoreError, match=f"{os.strerror(error)}.*nothing of it was kept.*try again"):
        store.append(rows)
    assert path.read_bytes() == before
    store.append(rows)  # the retry: not "already has a vote"
    assert len(VoteStore(path).open().read()) == 6
    assert not (tmp_path / "votes.csv.damaged").exists()


def test_a_failed_first_write_leaves_an_empty_file_and_the_header_comes_again(tmp_path, monkeypatch):
    path = tmp_path / "votes.csv"
    store = VoteStore(path).open()
    _failing_write(monkeypatch, errno.ENOSPC, after=len(HEADER) + 5)
    with pytest.raises(VoteStoreError):
        store.append(ballot_rows())
    assert path.read_bytes() == b""
    store.append(ballot_rows())
    assert path.read_bytes().startswith(HEADER) and len(votes.load_votes(path)) == 3


def test_repair_cuts_back_to_the_last_whole_ballot(tmp_path):
    """A crash after two of a ballot's three rows (and inside the third): the whole ballot goes to the side file."""
    path = tmp_path / "votes.csv"
    VoteStore(path).open().append(ballot_rows())
    good = path.read_bytes()
    rows = ballot_rows()
    partial = encode_rows(rows)[: len(encode_rows(rows[:2])) + 7]
    with path.open("ab") as f:
        f.write(partial)
    store = VoteStore(path).open()
    assert path.read_bytes() == good
    assert (tmp_path / "votes.csv.damaged").read_bytes() == partial + b"\n"
    store.append(rows)  # that trial has no vote: its partial ballot never counted
    assert len(votes.load_votes(path)) == 6


def test_repair_cuts_a_ballot_of_whole_rows_that_misses_a_criterion(tmp_path):
    path = tmp_path / "votes.csv"
    VoteStore(path).open().append(ballot_rows())
    good = path.read_bytes()
    two_rows = encode_rows(ballot_rows()[:2])  # every record whole, the ballot not
    with path.open("ab") as f:
        f.write(two_rows)
    VoteStore(path).open()
    assert path.read_bytes() == good
    assert (tmp_path / "votes.csv.damaged").read_bytes() == two_rows + b"\n"


def test_a_damaged_tail_goes_to_the_side_file_once(tmp_path, monkeypatch):
    """When the cut itself fails (EIO), the refused votes that follow must not copy the same tail again."""
    path = tmp_path / "votes.csv"
    store = VoteStore(path).open()
    store.append(ballot_rows())
    partial = b"2026-01-01T00:00:00.000000Z,abc,deadbeef,a half wri"
    with path.open("ab") as f:
        f.write(partial)
    real = os.ftruncate

    def failing(fd, length):
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "ftruncate", failing)
    for _ in range(3):
        with pytest.raises(VoteStoreError, match="Input/output error"):
            store.append(ballot_rows())
    monkeypatch.setattr(os, "ftruncate", real)
    store.append(ballot_rows())
    assert (tmp_path / "votes.csv.damaged").read_bytes() == partial + b"\n"
    assert len(votes.load_votes(path)) == 6


# ---- start-up refuses votes paths that are not regular files (issue 22, failure 5) -------------------------------


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: (tmp / "v.csv").symlink_to("/dev/full") or tmp / "v.csv", "character device"),
        (lambda tmp: os.mkfifo(tmp / "v.csv") or tmp / "v.csv", "FIFO"),
        (lambda tmp: Path("/dev/null"), "character device"),
        (lambda tmp: (tmp / "d").mkdir() or (tmp / "v.csv").symlink_to(tmp / "d") or tmp / "v.csv", "folder"),
    ],
)
def test_a_path_that_is_not_a_regular_file_is_refused_at_start(tmp_path, make, reason):
    path = make(tmp_path)
    with pytest.raises(VoteStoreError) as err:
        VoteStore(path).open()
    assert str(path) in str(err.value) and reason in str(err.value) and "regular file" in str(err.value)


def test_a_symlink_to_a_regular_file_is_allowed(tmp_path):
    (tmp_path / "real.csv").touch()
    (tmp_path / "v.csv").symlink_to(tmp_path / "real.csv")
    VoteStore(tmp_path / "v.csv").open().append(ballot_rows())
    assert len(votes.load_votes(tmp_path / "real.csv")) == 3


def test_a_path_swapped_for_a_fifo_after_start_is_refused(tmp_path):
    path = tmp_path / "v.csv"
    store = VoteStore(path).open()
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(VoteStoreError, match="FIFO"):
        store.append(ballot_rows())
