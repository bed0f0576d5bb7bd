"""The one machine record (mimir/bench/environment.py): the keys its readers use (NanoBench tables, the scorer and
probe reports, full_scale's "gpu"/"versions" view, a training run's environment.json), the versions of the packages
the issue names, and the git commit of the code that ran."""

import json
import subprocess

import torch

from mimir.bench.environment import environment, load_average


def test_the_record_holds_what_its_readers_read():
    env = environment()
    json.dumps(env)  # stored as JSON by every report
    assert {"python", "platform", "processor", "cpu_model", "cpu_count", "cuda", "packages", "git_commit"} <= set(env)
    for package in ("torch", "diffusers", "transformers", "gradio"):
        assert env["packages"][package], package
    assert env["cuda"] is None or torch.cuda.is_available()


def _head() -> str:
    return subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()


def test_the_commit_is_the_checkouts():
    before = _head()
    commit = environment()["git_commit"]
    assert commit.split("-")[0] in {before, _head()}  # (a commit may land between the two reads)


def test_load_is_measured_apart():
    assert "load_average" not in environment()  # a moment's figure: it would split reports from one machine
    load = load_average()
    assert load is None or (len(load) == 3 and all(x >= 0 for x in load))
