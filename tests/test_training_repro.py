"""benchmarks/training_repro.py on synthetic loss logs in the trainer's losses.csv format (fast)."""

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from .scripts import load_benchmark


def write_log(path: Path, losses: np.ndarray, every: int = 10, restart_at: int | None = None) -> None:
    """One row per `every` steps; the seconds column restarts at `restart_at`, as after a resume."""
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["step", "loss", "loss_mean", "lr", "seconds"])
        clock = 0.0
        for step in range(every, len(losses) + 1, every):
            clock = 1.0 if restart_at is not None and step == restart_at else clock + 1.0
            w.writerow([step, f"{losses[step - 1]:.6f}", f"{losses[step - every:step].mean():.6f}", "1e-4", clock])


def make_runs(tmp_path, second_offset: float, diverge_at: int = 200):
    rng = np.random.default_rng(0)
    shipped = 0.02 + 0.002 * rng.standard_normal(400)
    second = shipped.copy()
    second[diverge_at:] = 0.02 + second_offset + 0.002 * rng.standard_normal(400 - diverge_at)
    a, b = tmp_path / "shipped", tmp_path / "second"
    a.mkdir(exist_ok=True)
    b.mkdir(exist_ok=True)
    for stage in ("vae", "cogvideox", "mimir"):
        write_log(a / f"{stage}_losses.csv", shipped, restart_at=210)
        write_log(b / f"{stage}_losses.csv", second)
    return a, b


def test_same_recipe_is_within_noise_and_identical_until_divergence(tmp_path):
    module = load_benchmark("training_repro")
    a, b = make_runs(tmp_path, second_offset=0.0, diverge_at=200)
    out = tmp_path / "r.json"
    assert module.main(["--shipped", str(a), "--second-run", str(b), "--out", str(out)]) == 0
    r = json.loads(out.read_text())["results"]["cogvideox"]
    assert r["within_noise"] and r["identical_through_step"] == 200
    assert r["shipped"]["seconds"] == 20 + 20  # two resumed segments: 1..20 s, then 1..20 s again


def test_shifted_losses_are_not_within_noise(tmp_path):
    module = load_benchmark("training_repro")
    a, b = make_runs(tmp_path, second_offset=0.01, diverge_at=0)
    out = tmp_path / "r.json"
    assert module.main(["--shipped", str(a), "--second-run", str(b), "--out", str(out)]) == 1
    r = json.loads(out.read_text())["results"]["mimir"]
    assert not r["within_noise"] and r["identical_through_step"] is None
    assert r["difference_ci_95"][1] < 0  # the second run is higher


def test_runs_of_different_length_are_refused(tmp_path):
    module = load_benchmark("training_repro")
    a, b = make_runs(tmp_path, second_offset=0.0)
    write_log(b / "vae_losses.csv", np.full(300, 0.02))
    with pytest.raises(ValueError, match="ended at step 300, the shipped run at 400"):
        module.main(["--shipped", str(a), "--second-run", str(b), "--out", str(tmp_path / "r.json")])
