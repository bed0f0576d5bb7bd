"""The package stands alone: a non-editable install of `mimir` finds its data files (LLM-branch texts, wording tables,
study prompts, nano weights) inside itself, from any working directory, through importlib.resources; and nothing in
`mimir/` or `benchmarks/` cites a path outside the repository."""

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest


REPO = Path(__file__).resolve().parents[1]
# This machine's checkouts and the project notes kept beside the repository: neither ships with it. (Recorded run
# arguments, `logs/*_args.json` and the commands quoted from them, keep the device's own /tmp output folders: a record
# of what ran, not a file to open.)
OUTSIDE = ("../shared", "/work/")
TEXT_SUFFIXES = (".py", ".md", ".txt", ".json", ".jsonl", ".csv", ".sh")

# Runs in a fresh interpreter whose only `mimir` is the installed copy; prints what it found as JSON.
CHECK = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path

    import mimir
    from mimir.presets import NANO_ASSETS
    from mimir.presets import nano_video_models as _nano_video_models
    from mimir.study.trials import load_study_prompts
    from mimir.text_encoding import LLMBranchConfig
    from mimir.world.captions import load_tables
    from mimir.world.spec import load_suite

    branch = LLMBranchConfig.from_file()
    print(json.dumps({
        "mimir": str(Path(mimir.__file__).resolve().parent),
        "system_prompt": branch.system_prompt,
        "tables": [sorted(load_tables(split)) for split in ("train", "heldout")],
        "study_prompts": len(load_study_prompts()),
        "suite": len(load_suite(sys.argv[1])),
        "nano_assets": str(NANO_ASSETS.resolve()),
        "trained": _nano_video_models().trained,
    }))
    """
)


def _run_check(target: Path, cwd: Path, **env_extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MIMIR_NANO_ASSETS")}
    env.update(PYTHONPATH=str(target), **env_extra)
    suite = REPO / "prompts" / "bench" / "heldout" / "color.jsonl"
    out = subprocess.run(
        [sys.executable, "-c", CHECK, str(suite)], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr[-4000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_nothing_cites_a_path_outside_the_repository():
    cited, load_paths = [], []
    for folder in ("mimir", "benchmarks"):
        for path in sorted((REPO / folder).rglob("*")):
            if not path.is_file() or path.suffix not in TEXT_SUFFIXES or "__pycache__" in path.parts:
                continue
            text = path.read_text(encoding="utf-8")
            cited += [f"{path.relative_to(REPO)}: {o}" for o in OUTSIDE if o in text]
            if path.name == "config.json" and "_name_or_path" in json.loads(text):
                load_paths.append(str(path.relative_to(REPO)))
    assert not cited
    assert not load_paths, "a shipped config names the folder it was loaded from (export drops it)"


# About 35 s on 2 cores: pip builds and installs a copy of the package (with its 36 MB of nano weights).
@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """`pip install --no-deps --no-build-isolation --target` of a copy of the sources (the build writes `build/`
    beside its sources, so it runs on a copy to keep the work tree clean). Returns the target folder."""
    tmp = tmp_path_factory.mktemp("install")
    src, target = tmp / "src", tmp / "site"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "mimir", src / "mimir", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index"]
    subprocess.run([*cmd, "--target", str(target), str(src)], check=True, capture_output=True, text=True)
    return target


@pytest.mark.slow
def test_installed_package_finds_its_data(installed, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    found = _run_check(installed, elsewhere)

    package = installed / "mimir"
    assert found["mimir"] == str(package.resolve()), "imported a mimir other than the installed copy"
    repo_texts = json.loads((REPO / "mimir" / "prompts" / "llm" / "branch.json").read_text())
    assert found["system_prompt"] == repo_texts["system_prompt"]
    assert all(tables for tables in found["tables"])
    assert found["study_prompts"] > 0
    assert found["suite"] > 0
    assert found["nano_assets"] == str((package / "assets" / "nano").resolve())
    assert found["trained"], "the installed package did not ship the nano weights"


@pytest.mark.slow
def test_nano_assets_override(installed, tmp_path):
    """MIMIR_NANO_ASSETS still points the nano preset elsewhere (the GPU scripts use it); an empty folder means
    seeded random weights."""
    found = _run_check(installed, tmp_path, MIMIR_NANO_ASSETS=str(tmp_path))
    assert found["nano_assets"] == str(tmp_path.resolve())
    assert not found["trained"]
