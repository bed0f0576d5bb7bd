"""Study logic: prompt list, trials, vote validation, the CSV store and the aggregation (fast, no models)."""

import csv
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mimir.study import analysis, trials, votes
from mimir.study.vote_store import VoteStore
from tests.study_data import BALLOT, SETTINGS


def test_default_study_prompts_load():
    prompts = trials.load_study_prompts()
    assert len(prompts) >= 10
    assert all(p and not p.startswith("#") for p in prompts)


def test_prompt_file_replaceable_and_validated(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# my study\n\na red circle\n  a blue square  \n")
    assert trials.load_study_prompts(path) == ["a red circle", "a blue square"]
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="empty.txt"):
        trials.load_study_prompts(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="missing.txt"):
        trials.load_study_prompts(tmp_path / "missing.txt")


def test_trials_are_seeded_and_sides_random():
    a = trials.TrialFactory(["p1", "p2", "p3"], seed=7)
    b = trials.TrialFactory(["p1", "p2", "p3"], seed=7)
    ta = [a.new_trial(SETTINGS) for _ in range(40)]
    tb = [b.new_trial(SETTINGS) for _ in range(40)]
    assert [(t.prompt, t.seed, t.model_left) for t in ta] == [(t.prompt, t.seed, t.model_left) for t in tb]
    assert {t.model_left for t in ta} == {"cogvideox", "mimir"}  # both sides occur
    assert all({t.model_left, t.model_right} == {"cogvideox", "mimir"} for t in ta)
    assert len({t.trial_id for t in ta}) == 40
    # every study prompt shown once before repeats
    assert sorted(t.prompt for t in ta[:3]) == ["p1", "p2", "p3"]
    own = a.new_trial(SETTINGS, prompt="  my own prompt ", seed=5)
    assert (own.prompt, own.seed) == ("my own prompt", 5)


@pytest.mark.parametrize(
    ("ballot", "message"),
    [
        ({**BALLOT, "physics": None}, "choose A, B, tie or both bad for Physics"),
        ({**BALLOT, "physics": ""}, "choose A, B, tie or both bad for Physics"),
        ({"physics": "A"}, "choose A, B, tie or both bad for Instruction following and Visual quality"),
        ({**BALLOT, "physics": "C"}, "choice 'C' for Physics is not one of ['A', 'B', 'tie', 'both_bad']"),
        ({**BALLOT, "beauty": "A"}, "criterion 'beauty' is not one of"),
    ],
)
def test_ballot_errors_say_what_to_do(ballot, message):
    with pytest.raises(ValueError) as err:
        votes.validate_votes(ballot)
    assert message in str(err.value)


def _trial(**kw) -> trials.Trial:
    t = trials.TrialFactory(["a red circle"], seed=0).new_trial(SETTINGS, preset="nano")
    t.seconds_left, t.seconds_right = 1.5, 2.25
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def test_bad_vote_writes_nothing(tmp_path):
    path = tmp_path / "v.csv"
    store = VoteStore(path)
    with pytest.raises(ValueError, match="'maybe'"):
        store.append(votes.vote_rows(_trial(), {**BALLOT, "physics": "maybe"}, "s", "test"))
    assert not path.exists()


def test_concurrent_appends_do_not_interleave(tmp_path):
    path = tmp_path / "v.csv"

    def worker():
        store = VoteStore(path).open()
        for _ in range(10):
            store.append(votes.vote_rows(_trial(), BALLOT, "s", "test"))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(votes.CSV_COLUMNS)
    assert len(rows) == 1 + 6 * 10 * 3
    assert all(len(r) == len(votes.CSV_COLUMNS) for r in rows)


def _votes(mimir_wins: int, cog_wins: int, ties: int, criterion="instruction_following") -> pd.DataFrame:
    rows = []
    for chosen, n in (("mimir", mimir_wins), ("cogvideox", cog_wins), ("tie", ties)):
        for i in range(n):
            rows.append(
                {
                    "trial_id": f"{chosen}{i}",
                    "criterion": criterion,
                    "model_left": "mimir" if i % 2 else "cogvideox",
                    "model_right": "cogvideox" if i % 2 else "mimir",
                    "chosen_model": chosen,
                }
            )
    return pd.DataFrame(rows)


def test_table2_shares_and_counts():
    rep = analysis.report(_votes(6, 2, 2), n_bootstrap=50)
    row = rep.table2.set_index("criterion").loc["Instruction following"]
    assert row["Mimir %"] == 60.0 and row["CogVideoX %"] == 20.0 and row["tie %"] == 20.0
    assert row["Mimir decisive %"] == 75.0 and row["votes"] == 10
    physics = rep.table2.set_index("criterion").loc["Physics"]
    assert physics["votes"] == 0 and physics["Mimir %"] == "no votes"  # a blank cell says why
    assert physics["Mimir decisive %"] == "no decisive votes"
    # the counts table names criteria and outcomes as Table 2 does
    assert list(rep.counts.columns) == ["criterion", "CogVideoX", "Mimir", "tie", "both bad", "total"]
    assert list(rep.counts["criterion"]) == list(rep.table2["criterion"])
    counts = rep.counts.set_index("criterion")
    assert counts.loc["Instruction following", "Mimir"] == 6 and counts.loc["All criteria", "total"] == 10


def test_only_ties_leave_no_decisive_votes():
    row = analysis.table2(_votes(0, 0, 4)).set_index("criterion").loc["Instruction following"]
    assert row["tie %"] == 100.0 and row["Mimir decisive %"] == "no decisive votes"


def test_bradley_terry_two_models_matches_win_rate_and_ci_is_seeded():
    table = _votes(30, 10, 0)
    bt1 = analysis.bradley_terry(table, n_bootstrap=200, seed=3)
    bt2 = analysis.bradley_terry(table, n_bootstrap=200, seed=3)
    pd.testing.assert_frame_equal(bt1, bt2)
    row = bt1[(bt1["criterion"] == "Instruction following") & (bt1["model"] == "Mimir")].iloc[0]
    # two models: strength = P(preferred) = (30 + prior/2) / (40 + prior)
    assert row["strength"] == pytest.approx(30.25 / 40.5, abs=1e-3)
    assert row["ci_low"] < row["strength"] < row["ci_high"]
    assert row["note"] == ""  # 40 votes: enough for an interval


def test_bradley_terry_marks_intervals_from_too_few_votes():
    bt = analysis.bradley_terry(_votes(5, 3, 1), n_bootstrap=50).set_index(["criterion", "model"])
    assert bt.loc[("Instruction following", "Mimir"), "votes"] == 9
    assert bt.loc[("Instruction following", "Mimir"), "note"] == "too few votes for an interval (< 10)"
    assert bt.loc[("Physics", "Mimir"), "note"] == "no votes"
    bt10 = analysis.bradley_terry(_votes(5, 3, 2), n_bootstrap=50).set_index(["criterion", "model"])
    assert bt10.loc[("Instruction following", "Mimir"), "note"] == ""
    fig = analysis.bradley_terry_figure(bt.reset_index())
    # no error bar where the interval rests on too few votes: NaN (plotly draws nothing), not 0 (a flat cap)
    assert all(np.isnan(v) for v in fig.data[0].error_y.array)
    # and no interval numbers beside "too few votes" in the table
    assert np.isnan(bt.loc[("Instruction following", "Mimir"), "ci_low"])
    assert "too few votes" in fig.data[0].hovertext[0]


def test_bradley_terry_ties_are_half_wins_and_sweep_is_finite():
    wins = analysis._win_matrix(
        *analysis._encode_outcomes(
            pd.Series(["tie"]).to_numpy(),
            pd.Series(["mimir"]).to_numpy(),
            pd.Series(["cogvideox"]).to_numpy(),
            ["cogvideox", "mimir"],
        ),
        k=2,
    )
    assert wins.tolist() == [[0.0, 0.5], [0.5, 0.0]]
    p = analysis.fit_bradley_terry([[0, 0], [20, 0]])
    assert 0.95 < p[1] < 1.0


def test_cli_report(tmp_path, capsys):
    path = tmp_path / "v.csv"
    VoteStore(path).append(votes.vote_rows(_trial(), BALLOT, "s", "test"))
    assert analysis.cli_main(["report", "--votes", str(path), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "Table 2" in out and "Bradley-Terry" in out and "Instruction following" in out


def test_cli_report_missing_file(tmp_path):
    with pytest.raises(SystemExit):
        analysis.cli_main(["report", "--votes", str(Path(tmp_path) / "none.csv")])


def test_module_cli_report_does_not_load_torch(tmp_path):
    """`python -m mimir study report` works from the command line without importing torch (~2 s) or gradio."""
    path = tmp_path / "v.csv"
    VoteStore(path).append(votes.vote_rows(_trial(), BALLOT, "s", "test"))
    code = (
        "import sys; sys.argv = ['mimir', 'study', 'report', '--votes', sys.argv[1], '--bootstrap', '10'];"
        "from mimir.__main__ import main; rc = main(sys.argv[1:]);"
        "assert 'torch' not in sys.modules and 'gradio' not in sys.modules, 'heavy import';"
        "raise SystemExit(rc)"
    )
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 ballot (3 votes: one per criterion) from 1 trial" in out.stdout and "too few votes" in out.stdout
