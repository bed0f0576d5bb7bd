"""The loop rules both trainers share (mimir/train/loop.py): when a step logs and checkpoints, the time limit, and
caption / encoder-branch dropout with its draws in a fixed order (which resumed runs rely on)."""

import time

import torch

from mimir.train.loop import TEXT_KEYS, TimeLimit, caption_dropout, dropout_rows, step_due


def test_step_due_every_n_at_the_end_and_out_of_time():
    assert [s for s in range(1, 8) if step_due(s, 3, 7, False)] == [3, 6, 7]  # every 3rd, and the last step
    assert step_due(4, 3, 7, True)  # past the time limit: log and checkpoint the step taken
    assert not any(step_due(s, 0, 7, s == 5) for s in range(1, 8))  # --checkpoint-every 0: never, not even last


def test_time_limit():
    assert not TimeLimit(None).passed()
    assert not TimeLimit(1.0).passed()
    limit = TimeLimit(0.0)
    time.sleep(0.01)
    assert limit.passed()


def test_dropout_rows_draw_caption_then_encoder_rows_from_the_generator():
    drop, alone = dropout_rows(6, 0.5, 0.3, torch.Generator().manual_seed(3), "cpu")
    reference = torch.Generator().manual_seed(3)
    torch.testing.assert_close(drop, torch.rand(6, generator=reference) < 0.5, rtol=0, atol=0)
    torch.testing.assert_close(alone, torch.rand(6, generator=reference) < 0.3, rtol=0, atol=0)
    # no encoder dropout: nothing more is drawn, so a run without it keeps the noise of the rest of its step
    generator = torch.Generator().manual_seed(3)
    drop, alone = dropout_rows(6, 0.5, 0.0, generator, "cpu")
    assert alone is None
    reference = torch.Generator().manual_seed(3)
    torch.rand(6, generator=reference)
    torch.testing.assert_close(torch.rand(2, generator=generator), torch.rand(2, generator=reference))


def _text(B: int, value: float) -> dict:
    """Text features of B captions (n = 3 tokens, D = 2, L = 2 LLM layers), every number `value` (masks: 1)."""
    return {
        "encoder_embeds": torch.full((B, 3, 2), value),  # (B, n, D)
        "encoder_mask": torch.ones(B, 3, dtype=torch.long),  # (B, n)
        "llm_embeds": torch.full((B, 3, 2, 2), value),  # (B, n, L, D_llm)
        "llm_mask": torch.ones(B, 3, dtype=torch.long),  # (B, n)
        "instruction_embeds": torch.full((B, 4, 2, 2), value),  # (B, 4, L, D_llm)
    }


def _empty() -> dict:
    empty = _text(1, 0.0)
    empty["encoder_mask"][:, 1:] = 0  # the empty caption has one real token
    empty["llm_mask"][:, 1:] = 0
    return empty


def test_caption_dropout_puts_the_empty_caption_in_both_branches():
    out = caption_dropout(_text(4, 1.0), _empty(), 1.0, 0.0, torch.Generator().manual_seed(0))
    for k in TEXT_KEYS:
        torch.testing.assert_close(out[k], _empty()[k].expand_as(out[k]), rtol=0, atol=0)
    kept = caption_dropout(_text(4, 1.0), _empty(), 0.0, 0.0, torch.Generator().manual_seed(0))
    for k in TEXT_KEYS:
        torch.testing.assert_close(kept[k], _text(4, 1.0)[k], rtol=0, atol=0)


def test_encoder_dropout_keeps_the_llm_branch_and_the_mask_rule_is_selectable():
    """Encoder-branch dropout empties the encoder's tokens only. The nano stages keep the caption's encoder mask (the
    shipped Mimir-nano trained so); the full-scale recipe takes the empty caption's mask too."""
    for keep_mask in (True, False):
        out = caption_dropout(
            _text(4, 1.0), _empty(), 0.0, 1.0, torch.Generator().manual_seed(0), keep_encoder_mask=keep_mask
        )
        assert torch.equal(out["encoder_embeds"], torch.zeros(4, 3, 2))
        assert torch.equal(out["llm_embeds"], torch.ones(4, 3, 2, 2))  # the LLM branch still reads the caption
        expected_mask = torch.ones(4, 3, dtype=torch.long) if keep_mask else _empty()["encoder_mask"].expand(4, 3)
        assert torch.equal(out["encoder_mask"], expected_mask)


def test_without_an_llm_branch_its_keys_stay_none():
    text = {**_text(2, 1.0), "llm_embeds": None, "llm_mask": None, "instruction_embeds": None}
    out = caption_dropout(text, _empty(), 1.0, 0.0, torch.Generator().manual_seed(0))
    assert out["llm_embeds"] is None and out["llm_mask"] is None and out["instruction_embeds"] is None
    assert torch.equal(out["encoder_embeds"], torch.zeros(2, 3, 2))
