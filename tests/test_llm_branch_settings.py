"""The LLM-branch settings belong to the weights: saved as llm_branch.json beside token_fuser/, loaded with it, and
checked against the fuser; a training run resumes with its own saved settings."""

import argparse
import json

import pytest
import torch

import mimir.text_encoding as te
from mimir.loading import load_mimir_weights
from mimir.text_encoding import LLMBranchConfig
from mimir.token_fuser import TokenFuser
from mimir.train.diffusion import llm_branch_of_run

from .tiny import ENCODER_DIM, LLM_DIM, tiny_video_models


def weights_folder(tmp_path, layers=(3, -1), num_llm_layers=2):
    transformer, _, _ = tiny_video_models()
    transformer.save_pretrained(tmp_path / "transformer")
    torch.manual_seed(0)
    TokenFuser(encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM, num_llm_layers=num_llm_layers).save_pretrained(
        tmp_path / "token_fuser"
    )
    LLMBranchConfig.from_file(hidden_layers=layers, system_prompt="Saved with the weights.").save(tmp_path)
    return tmp_path


def test_settings_round_trip_and_ignore_edits_of_the_prompts_file(tmp_path, monkeypatch):
    folder = weights_folder(tmp_path / "w")
    edited = tmp_path / "branch.json"
    edited.write_text(json.dumps({**json.loads(te.BRANCH_TEXTS.read_text()), "system_prompt": "Edited later."}))
    monkeypatch.setattr(te, "BRANCH_TEXTS", edited)
    _, fuser, branch = load_mimir_weights(folder, ENCODER_DIM, LLM_DIM)
    assert branch.system_prompt == "Saved with the weights." and branch.hidden_layers == (3, -1)
    assert fuser.config.num_llm_layers == 2
    assert LLMBranchConfig.from_file().system_prompt == "Edited later."  # only new runs read the file


def test_missing_or_inconsistent_settings_are_refused(tmp_path):
    folder = weights_folder(tmp_path / "w")
    (folder / "llm_branch.json").unlink()
    with pytest.raises(ValueError, match="llm_branch.json' is missing"):
        load_mimir_weights(folder, ENCODER_DIM, LLM_DIM)
    folder = weights_folder(tmp_path / "v", layers=(1, 2, 3))
    with pytest.raises(ValueError, match="takes 3 hidden layers.*num_llm_layers=2"):
        load_mimir_weights(folder, ENCODER_DIM, LLM_DIM)
    with pytest.raises(ValueError, match="unknown LLM-branch settings \\['hidden_layer'\\]"):
        LLMBranchConfig.from_dict({**LLMBranchConfig.from_file().to_dict(), "hidden_layer": -1})
    with pytest.raises(ValueError, match="hidden_layers"):
        LLMBranchConfig.from_file(hidden_layers=())


def test_a_resumed_run_keeps_its_saved_settings(tmp_path, monkeypatch):
    run = tmp_path / "run"
    args = argparse.Namespace(llm_hidden_layers=(4, -1))
    first = llm_branch_of_run(run, args)
    first.save(run)
    edited = tmp_path / "branch.json"
    edited.write_text(json.dumps({**json.loads(te.BRANCH_TEXTS.read_text()), "system_prompt": "Edited later."}))
    monkeypatch.setattr(te, "BRANCH_TEXTS", edited)
    assert llm_branch_of_run(run, args) == first  # the run's own file, not the edited one
    with pytest.raises(ValueError, match=r"--llm-hidden-layers \[8\] differs from the run's saved \[4, -1\]"):
        llm_branch_of_run(run, argparse.Namespace(llm_hidden_layers=(8,)))
