"""benchmarks/train_full_scale.py at tiny shapes on the CPU: the script that measured the full-scale recipe on the GPU
machine runs end to end, so it cannot rot between GPU sessions."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .scripts import load_benchmark


REPO = Path(__file__).resolve().parents[1]


@pytest.mark.timeout(300)
def test_tiny_lora_on_a_float8_base_reports_losses_and_throughput(tmp_path):
    command = [sys.executable, str(REPO / "benchmarks" / "train_full_scale.py"), "--scale", "tiny"]
    command += ["--videos", str(tmp_path / "videos"), "--num-videos", "3", "--output-dir", str(tmp_path / "run")]
    command += ["--num-frames", "9", "--height", "64", "--width", "64", "--dataloader-num-workers", "0"]
    command += ["--max-train-steps", "3", "--gradient-checkpointing", "--transformer-dtype", "bf16"]
    command += ["--lora-rank", "2", "--lora-base-storage", "float8_e4m3fn", "--cache-dir", str(tmp_path / "cache")]
    out = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=280)
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("{")))
    assert report == json.loads((tmp_path / "run" / "benchmark.json").read_text())
    assert report["scale"] == "tiny" and report["processes"] == 1 and report["device"] == "cpu"
    assert sorted(report["losses"]) == ["1", "2", "3"]
    # losses.csv keeps 0.1 s: tiny steps may log the same second, and then no rate is given rather than a division
    assert report["samples_per_s"] is None or report["samples_per_s"] > 0
    assert report["peak_allocated_gib_per_gpu"] == [None]  # no GPU here
    assert report["training_peak_allocated_gib_per_gpu"] == report["cache_pass_peak_allocated_gib_per_gpu"] == [None]
    assert len(list((tmp_path / "videos").glob("*.mp4"))) == 3


def test_throughput_counts_from_the_second_logged_step():
    throughput = load_benchmark("train_full_scale").throughput

    rows = [(1, 1.0, 9.0), (2, 1.0, 10.0), (3, 1.0, 12.0), (4, 1.0, 14.0)]  # (step, loss, seconds since start)
    assert throughput(rows, samples_per_step=2) == pytest.approx(2 * 2 / 4.0)  # steps 3 and 4 in 4 s, step 1 left out
    assert throughput(rows[:2], samples_per_step=2) is None  # one interval after the first step: not enough
    assert throughput([(1, 1.0, 0.1), (2, 1.0, 0.1), (3, 1.0, 0.1)], samples_per_step=1) is None  # no time elapsed
