"""benchmarks/training_repro.py on synthetic loss logs in the trainer's losses.csv format (fast)."""

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from .scripts import load_benchmark


REPO = Path(__file__).resolve().parents[1]


def write_log(path: Path, losses: np.ndarray, every: int = 10, restart_at: int | None = None) -> None:
    """One row per `every` steps; the seconds column restarts at `restart_at`, as after a resume."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "loss_mean", "lr", "seconds"])
        clock = 0.0
        for step in range(every, len(losses) + 1, every):
            clock = 1.0 if restart_at is not None and step == restart_at else clock + 1.0
            w.writerow([step, f"{losses[step - 1]:.6f}", f"{losses[step - every : step].mean():.6f}", "1e-4", clock])


def write_rows(path: Path, rows: list[tuple[int, float]]) -> None:
    """Rows (step, seconds) as logged, losses made up."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "loss_mean", "lr", "seconds"])
        for step, seconds in rows:
            w.writerow([step, "0.02", "0.02", "1e-4", seconds])


def make_runs(tmp_path, second_offset: float, diverge_at: int = 200):
    """Every stage's two logs where the script looks for them (its STAGES table)."""
    module = load_benchmark("training_repro")
    rng = np.random.default_rng(0)
    shipped = 0.02 + 0.002 * rng.standard_normal(400)
    second = shipped.copy()
    second[diverge_at:] = 0.02 + second_offset + 0.002 * rng.standard_normal(400 - diverge_at)
    a, b = tmp_path / "shipped", tmp_path / "second"
    a.mkdir(exist_ok=True)
    b.mkdir(exist_ok=True)
    for where, shipped_log, second_log, _ in module.STAGES.values():
        write_log((a if where == "shipped" else b) / shipped_log, shipped, restart_at=210)
        write_log(b / second_log, second)
    return a, b


def test_same_recipe_is_within_noise_and_identical_until_divergence(tmp_path):
    module = load_benchmark("training_repro")
    a, b = make_runs(tmp_path, second_offset=0.0, diverge_at=200)
    out = tmp_path / "r.json"
    assert module.main(["--shipped", str(a), "--second-run", str(b), "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert set(report["results"]) == {"vae", "cogvideox", "mimir", "ft_mimir", "ft_t5_only"}
    assert report["fine_tune_weights"] is None  # no weights recorded in the second-run folder
    r = report["results"]["cogvideox"]
    assert r["within_noise"] and r["identical_through_step"] == 200
    assert r["shipped"]["seconds"] == 20 + 20  # two resumed segments: 1..20 s, then 1..20 s again
    assert [run["resumed_from"] for run in r["shipped"]["runs"]] == [0, 200]
    assert [run["resumed_from"] for run in r["second_run"]["runs"]] == [0]


def test_shifted_losses_are_not_within_noise(tmp_path):
    module = load_benchmark("training_repro")
    a, b = make_runs(tmp_path, second_offset=0.01, diverge_at=0)
    out = tmp_path / "r.json"
    assert module.main(["--shipped", str(a), "--second-run", str(b), "--out", str(out)]) == 1
    r = json.loads(out.read_text())["results"]["ft_mimir"]
    assert not r["within_noise"] and r["identical_through_step"] is None
    assert r["difference_ci_95"][1] < 0  # the second run is higher


def test_runs_of_different_length_are_refused(tmp_path):
    module = load_benchmark("training_repro")
    a, b = make_runs(tmp_path, second_offset=0.0)
    write_log(b / "vae_losses.csv", np.full(300, 0.02))
    with pytest.raises(ValueError, match="ended at step 300, the shipped run at 400"):
        module.main(["--shipped", str(a), "--second-run", str(b), "--out", str(tmp_path / "r.json")])


def test_resume_points(tmp_path):
    """A killed run resumed from its last checkpoint (steps logged twice); a run out of time at step 1 whose
    successor's clock is already past its one row; a stop off the logging grid followed by a restarted clock."""
    module = load_benchmark("training_repro")
    killed = tmp_path / "killed_losses.csv"
    first = [(step, step / 10) for step in range(50, 2151, 50)]  # killed after step 2150 (checkpoint at 2000)
    write_rows(killed, first + [(step, (step - 2000) / 10) for step in range(2050, 4001, 50)])
    (tmp_path / "killed_args.json").write_text(json.dumps({"checkpoint_every": 1000}))
    runs = module.resumes(module.read_segments(killed), module.checkpoint_every(killed))
    assert runs == [
        {"resumed_from": 0, "first_logged": 50, "last_logged": 2150},
        {"resumed_from": 2000, "first_logged": 2050, "last_logged": 4000},
    ]
    assert module.wall_seconds(module.read_segments(killed)) == 215.0 + 200.0
    one_step = tmp_path / "one_step_losses.csv"
    write_rows(one_step, [(1, 1.1), (50, 4.0), (100, 7.4), (150, 11.0)])
    assert [r["resumed_from"] for r in module.resumes(module.read_segments(one_step), None)] == [0, 1]
    off_grid = tmp_path / "off_grid_losses.csv"
    write_rows(off_grid, [(50, 5.0), (100, 9.0), (150, 13.0), (173, 15.5), (200, 2.6), (250, 5.7)])
    assert [r["resumed_from"] for r in module.resumes(module.read_segments(off_grid), None)] == [0, 173]
    sparse = tmp_path / "sparse_losses.csv"  # two rows: too few to tell a logging grid, one run
    write_rows(sparse, [(500, 245.3), (628, 300.3)])
    assert len(module.read_segments(sparse)) == 1


def test_recorded_weights_are_compared_with_the_shipped_ones(tmp_path):
    """Shipped weights recorded as a 'second run' are bit-identical to themselves, with the same layer mix."""
    module = load_benchmark("training_repro")
    a, b = make_runs(tmp_path, second_offset=0.0)
    weights = tmp_path / "weights"
    for run, folders in module.SHIPPED_WEIGHTS.items():
        for sub, shipped in folders.items():
            shutil.copytree(REPO / shipped, weights / run / sub)
    out = tmp_path / "r.json"
    args = ["--shipped", str(a), "--second-run", str(b), "--out", str(out), "--record-weights", str(weights)]
    assert module.main(args) == 0
    assert (b / module.WEIGHTS_RECORD).exists()
    w = json.loads(out.read_text())["fine_tune_weights"]["runs"]
    assert w["ft_mimir"]["transformer"]["bit_identical_to_shipped"]
    assert w["ft_t5_only"]["transformer"]["relative_l2"] == 0.0
    fuser = w["ft_mimir"]["fuser"]
    assert fuser["layer_mix_max_abs_difference"] == 0.0 and abs(sum(fuser["shipped"]["layer_mix"]) - 1) < 1e-9
