"""`--out-dir` on a folder the user already has: the app works in a sub-folder of its own and never sweeps or removes
anything else (issue 22, failure 4; fast, no models)."""

import os
import time

import pytest

from mimir.outputs import OutputFolder


def test_an_existing_folder_keeps_everything_the_app_did_not_create(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("x")
    (d / "photos").mkdir()
    (d / "photos" / "a.jpg").write_bytes(b"jpg")
    old = time.time() - 10 * 24 * 3600  # far older than any age limit
    for path in (d / "notes.txt", d / "photos" / "a.jpg", d / "photos"):
        os.utime(path, (old, old))
    out = OutputFolder(d, max_age_seconds=1, max_bytes=1)
    assert out.root.parent == d and out.root.name.startswith("mimir-studio-") and out.root.is_dir()
    folder = out.new_folder()
    folder.mkdir()
    (folder / "trial-A.mp4").write_bytes(b"v" * 100)
    out.cache.mkdir()
    (out.cache / "copy.mp4").write_bytes(b"v" * 100)
    out.sweep(time.time() + 3600)  # everything of its own is past the age
    out.new_folder()
    out.remove_all()
    assert (d / "notes.txt").read_text() == "x" and (d / "photos" / "a.jpg").read_bytes() == b"jpg"
    assert sorted(p.name for p in d.iterdir()) == ["notes.txt", "photos"]


def test_two_apps_on_one_folder_each_remove_only_their_own(tmp_path):
    first, second = OutputFolder(tmp_path), OutputFolder(tmp_path)
    assert first.root != second.root
    (second.new_folder()).mkdir()
    first.remove_all()
    assert second.root.is_dir() and not first.root.exists()


def test_without_a_folder_the_app_uses_its_own_temporary_one(tmp_path):
    out = OutputFolder()
    try:
        assert out.root.name.startswith("mimir-studio-") and out.root.is_dir()
    finally:
        out.remove_all()
    assert not out.root.exists()


def test_a_file_given_as_the_folder_is_refused(tmp_path):
    (tmp_path / "f").write_text("mine")
    with pytest.raises(ValueError, match="is not a folder"):
        OutputFolder(tmp_path / "f")
    assert (tmp_path / "f").read_text() == "mine"


def test_a_symlink_in_the_own_folder_is_removed_not_followed(tmp_path):
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("k")
    out = OutputFolder(tmp_path / "out", max_age_seconds=0)
    (out.root / "link").symlink_to(target)
    out.sweep(time.time() + 10)
    out.remove_all()
    assert (target / "keep.txt").read_text() == "k"
