"""The LLM branch with a bitsandbytes 8-bit LLM on the CPU (`llm_quantization="8bit"`)."""

import pytest
import torch

from mimir.text_encoding import PromptEncoder
from mimir.text_models import load_causal_lm as _load_causal_lm
from mimir.text_models import load_smollm2_tokenizer

from .tiny import SEQ, tiny_llm, tiny_text_encoder


def test_8bit_llm_branch_matches_full_precision(tmp_path):
    bnb = pytest.importorskip("bitsandbytes")
    llm_tokenizer = load_smollm2_tokenizer()
    llm = tiny_llm(llm_tokenizer)
    llm.save_pretrained(tmp_path / "llm")
    llm_tokenizer.save_pretrained(tmp_path / "llm")
    tok8, llm8 = _load_causal_lm(tmp_path / "llm", "cpu", "8bit")
    assert getattr(llm8, "is_loaded_in_8bit", False)
    assert any(isinstance(m, bnb.nn.Linear8bitLt) for m in llm8.modules())

    tokenizer, text_encoder = tiny_text_encoder()
    prompts = ["two red circles to the left of a blue square", "a white cross moving up"]
    full = PromptEncoder(tokenizer, text_encoder, llm_tokenizer, llm, max_sequence_length=SEQ).encode(prompts, True)
    eight = PromptEncoder(tokenizer, text_encoder, tok8, llm8, max_sequence_length=SEQ).encode(prompts, True)
    full, eight = full.llm.combined, eight.llm.combined  # (B, n, L, D_llm)
    assert torch.equal(full.mask, eight.mask)
    m = full.mask.bool()
    rel = (eight.embeds[m] - full.embeds[m]).norm() / full.embeds[m].norm()
    assert rel < 0.1, f"8-bit LLM tokens differ from fp32 by {rel:.3f} (relative)"
    assert not torch.equal(eight.embeds, full.embeds)  # really quantized
