"""benchmarks/encode_new_prompts.py runs on the shipped nano preset, encodes only new prompts, and refuses a count
below 1."""

import pytest
import torch

from mimir.pipeline import MimirPipeline

from .scripts import load_benchmark


def test_encodes_each_new_prompt_once(monkeypatch):
    script = load_benchmark("encode_new_prompts")
    seen = []
    real = MimirPipeline.encode_prompt
    monkeypatch.setattr(MimirPipeline, "encode_prompt", lambda self, p, n, **kw: seen.append(p) or real(self, p, n))
    script.main(["--prompts", "3"])
    assert len(seen) == len(set(seen)) == 3
    assert torch.is_grad_enabled()  # the script leaves the process's grad mode as it found it


def test_refuses_no_prompts(capsys):
    with pytest.raises(SystemExit):
        load_benchmark("encode_new_prompts").main(["--prompts", "0"])
    assert "--prompts 0: at least 1" in capsys.readouterr().err
