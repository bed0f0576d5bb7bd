"""Study logic: prompt list, trials, vote validation, the CSV store and the aggregation (fast, no models)."""

import csv
import threading
from pathlib import Path

import pandas as pd
import pytest

from mimir import study


SETTINGS = {
    "negative_prompt": "",
    "num_frames": 9,
    "height": 64,
    "width": 64,
    "num_inference_steps": 4,
    "guidance_scale": 6.0,
}
BALLOT = {"instruction_following": "A", "physics": "tie", "visual_quality": "both_bad"}


def test_default_study_prompts_load():
    prompts = study.load_study_prompts()
    assert len(prompts) >= 10
    assert all(p and not p.startswith("#") for p in prompts)


def test_prompt_file_replaceable_and_validated(tmp_path):
    path = tmp_path / "mine.txt"
    path.write_text("# my study\n\na red circle\n  a blue square  \n")
    assert study.load_study_prompts(path) == ["a red circle", "a blue square"]
    (tmp_path / "empty.txt").write_text("# nothing\n\n")
    with pytest.raises(ValueError, match="empty.txt"):
        study.load_study_prompts(tmp_path / "empty.txt")
    with pytest.raises(ValueError, match="missing.txt"):
        study.load_study_prompts(tmp_path / "missing.txt")


def test_trials_are_seeded_and_sides_random():
    a = study.TrialFactory(["p1", "p2", "p3"], seed=7)
    b = study.TrialFactory(["p1", "p2", "p3"], seed=7)
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
    ("criterion", "choice", "needle"),
    [("physics", "C", "'C'"), ("physics", None, "None"), ("beauty", "A", "'beauty'")],
)
def test_vote_validation_names_value_and_allowed_set(criterion, choice, needle):
    with pytest.raises(ValueError) as err:
        study.validate_choice(criterion, choice)
    assert needle in str(err.value)
    assert "[" in str(err.value)  # the allowed set is listed


def _trial(**kw) -> study.Trial:
    t = study.TrialFactory(["a red circle"], seed=0).new_trial(SETTINGS, preset="nano")
    t.seconds_left, t.seconds_right = 1.5, 2.25
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def test_vote_store_appends_rows_with_header_once(tmp_path):
    store = study.VoteStore(tmp_path / "votes" / "v.csv")
    t = _trial(model_left="mimir", model_right="cogvideox")
    store.append(study.vote_rows(t, BALLOT, session_id="s1", app_version="test"))
    store.append(study.vote_rows(t, BALLOT, session_id="s1", app_version="test"))
    lines = (tmp_path / "votes" / "v.csv").read_text().splitlines()
    assert lines[0].split(",") == list(study.CSV_COLUMNS)
    assert len(lines) == 7
    df = store.read()
    first = df.iloc[0]
    assert first["chosen_model"] == "mimir" and first["criterion"] == "instruction_following"
    assert set(df["chosen_model"]) == {"mimir", "tie", "both_bad"}
    assert first["seconds_left"] == "1.5" and first["num_frames"] == "9" and first["timestamp_utc"].endswith("Z")


def test_bad_vote_writes_nothing(tmp_path):
    path = tmp_path / "v.csv"
    store = study.VoteStore(path)
    with pytest.raises(ValueError, match="'maybe'"):
        store.append(study.vote_rows(_trial(), {**BALLOT, "physics": "maybe"}, "s", "test"))
    assert not path.exists()


def test_foreign_header_is_refused(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="header"):
        study.VoteStore(path).append(study.vote_rows(_trial(), BALLOT, "s", "test"))
    assert path.read_text() == "a,b\n1,2\n"


def test_concurrent_appends_do_not_interleave(tmp_path):
    path = tmp_path / "v.csv"
    t = _trial()

    def worker():
        store = study.VoteStore(path)
        for _ in range(10):
            store.append(study.vote_rows(t, BALLOT, "s", "test"))

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == list(study.CSV_COLUMNS)
    assert len(rows) == 1 + 6 * 10 * 3
    assert all(len(r) == len(study.CSV_COLUMNS) for r in rows)


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
    rep = study.report(_votes(6, 2, 2), n_bootstrap=50)
    row = rep.table2.set_index("criterion").loc["Instruction following"]
    assert row["Mimir %"] == 60.0 and row["CogVideoX %"] == 20.0 and row["tie %"] == 20.0
    assert row["Mimir decisive %"] == 75.0 and row["votes"] == 10
    assert rep.table2.set_index("criterion").loc["Physics", "votes"] == 0
    counts = rep.counts.set_index("criterion")
    assert counts.loc["instruction_following", "mimir"] == 6 and counts.loc["all", "total"] == 10


def test_bradley_terry_two_models_matches_win_rate_and_ci_is_seeded():
    votes = _votes(30, 10, 0)
    bt1 = study.bradley_terry(votes, n_bootstrap=200, seed=3)
    bt2 = study.bradley_terry(votes, n_bootstrap=200, seed=3)
    pd.testing.assert_frame_equal(bt1, bt2)
    row = bt1[(bt1["criterion"] == "Instruction following") & (bt1["model"] == "Mimir")].iloc[0]
    # two models: strength = P(preferred) = (30 + prior/2) / (40 + prior)
    assert row["strength"] == pytest.approx(30.25 / 40.5, abs=1e-3)
    assert row["ci_low"] < row["strength"] < row["ci_high"]


def test_bradley_terry_ties_are_half_wins_and_sweep_is_finite():
    wins = study._win_matrix(
        *study._encode_outcomes(
            pd.Series(["tie"]).to_numpy(),
            pd.Series(["mimir"]).to_numpy(),
            pd.Series(["cogvideox"]).to_numpy(),
            ["cogvideox", "mimir"],
        ),
        k=2,
    )
    assert wins.tolist() == [[0.0, 0.5], [0.5, 0.0]]
    p = study.fit_bradley_terry([[0, 0], [20, 0]])
    assert 0.95 < p[1] < 1.0


def test_cli_report(tmp_path, capsys):
    path = tmp_path / "v.csv"
    study.VoteStore(path).append(study.vote_rows(_trial(), BALLOT, "s", "test"))
    assert study.cli_main(["report", "--votes", str(path), "--bootstrap", "20"]) == 0
    out = capsys.readouterr().out
    assert "Table 2" in out and "Bradley-Terry" in out and "Instruction following" in out


def test_cli_report_missing_file(tmp_path):
    with pytest.raises(SystemExit):
        study.cli_main(["report", "--votes", str(Path(tmp_path) / "none.csv")])
