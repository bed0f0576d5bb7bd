"""The gradio-free studio layer (mimir/studio/): one validation per request, no Gradio, the Space's vote path and its
warning, the client identity the study keys on."""

import subprocess
import sys
from pathlib import Path

import pytest

from mimir.pair import MODELS
from mimir.studio import config
from mimir.studio.requests import Client, check_number, check_trial_id
from mimir.studio.service import Studio
from tests.tiny_studio import STEPS, tiny_pipes


ROOT = Path(__file__).resolve().parents[1]


def test_the_studio_layer_never_imports_gradio():
    code = (
        "import sys, mimir.studio.service, mimir.studio.study, mimir.studio.downloads, mimir.studio.config;"
        "assert 'gradio' not in sys.modules, 'gradio imported'"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_a_generation_request_is_checked_once(tmp_path, monkeypatch):
    """One /generate: each pipeline checks (and tokenizes) the prompt once; the pipeline's own call then sees
    embeddings only. Before the studio layer it was three times: the app, generation.compare, the pipeline."""
    studio = Studio(tiny_pipes(), out_dir=tmp_path / "out")
    calls = {m: [] for m in MODELS}
    for model in MODELS:
        pipe = studio.pipes.pipeline(model)
        real = pipe.check_prompt_lengths

        def spy(texts, name="prompt", _real=real, _model=model):
            calls[_model].append((name, list(texts)))
            return _real(texts, name)

        monkeypatch.setattr(pipe, "check_prompt_lengths", spy)
    settings = studio.settings("a red circle", "", 0, num_frames=9, height=16, width=16, num_inference_steps=STEPS)
    studio.generate_pair(settings)
    for model in MODELS:
        checked = [(name, texts) for name, texts in calls[model] if texts]  # the later calls carry embeddings only
        assert checked == [("prompt", ["a red circle"]), ("negative_prompt", [""])], (model, calls[model])


def test_huge_numbers_are_refused_not_crashed():
    for value in (10**400, -(10**400), float("inf"), float("nan"), True, "7"):
        with pytest.raises(ValueError) as err:
            check_number("seed", value, whole=True)
        assert len(str(err.value)) < 120
    assert check_number("seed", 7, whole=True) == 7


def test_trial_ids_are_checked_before_any_lookup():
    assert check_trial_id(" 0123456789abcdef ") == "0123456789abcdef"
    for bad in ("nope", "f" * 2**20, "0123456789ABCDEF", "../../etc/passwd"):
        with pytest.raises(ValueError, match="unknown trial id") as err:
            check_trial_id(bad)
        assert len(str(err.value)) < 200


def test_client_address_behind_a_proxy_is_the_proxys_own_entry():
    plain = Client.from_request("s1", "127.0.0.1", {"x-forwarded-for": "6.6.6.6"}, behind_proxy=False)
    assert plain.address == Client.from_request("s2", "127.0.0.1", {}, behind_proxy=False).address  # header ignored
    proxied = Client.from_request("s1", "10.0.0.1", {"x-forwarded-for": "6.6.6.6, 203.0.113.5"}, behind_proxy=True)
    same = Client.from_request("s9", "10.0.0.2", {"x-forwarded-for": "1.2.3.4, 203.0.113.5"}, behind_proxy=True)
    assert proxied.address == same.address and proxied.session != same.session  # the forged entries do not count
    assert "203.0.113.5" not in proxied.address  # stored hashed, never as an address


def test_votes_go_under_data_on_a_space_with_persistent_storage(tmp_path, monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert config.default_votes_path() == Path("votes") / "votes.csv"
    assert config.votes_persistence_note("votes/votes.csv") is None  # not a Space: nothing to warn about
    monkeypatch.setenv("SPACE_ID", "someone/mimir-studio")
    monkeypatch.setattr(config, "SPACE_PERSISTENT_ROOT", tmp_path)
    assert config.default_votes_path() == tmp_path / "votes" / "votes.csv"
    assert config.votes_persistence_note(tmp_path / "votes" / "votes.csv") is None
    note = config.votes_persistence_note("votes/votes.csv")
    assert "LOST at the next restart" in note and "/data" in note


def test_the_study_tab_says_when_votes_will_be_lost(tmp_path, monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/mimir-studio")
    monkeypatch.setattr(config, "SPACE_PERSISTENT_ROOT", tmp_path / "no-storage")
    studio = Studio(tiny_pipes(), votes_path=tmp_path / "votes.csv", out_dir=tmp_path / "out")
    assert "LOST at the next restart" in studio.persistence_note
