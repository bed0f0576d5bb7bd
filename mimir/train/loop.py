"""What both trainers' loops share: caption dropout, the time limit and when to log and checkpoint.

The nano stages (`mimir/train/diffusion.py`) and the full-scale recipe (`mimir/train/finetune.py`,
`train dit --data`) draw their batches differently (a fixed pool of rendered items; video clips or a feature cache),
but a step ends the same way in both: the rules here, written once.

Caption dropout (classifier-free guidance, CogVideoX's recipe): a share `caption_dropout` of the captions is replaced
by the empty caption's features in both branches. Encoder-branch dropout (our choice, not the paper's): a share
`encoder_dropout` of the captions reaches the DiT through the LLM branch alone, their encoder tokens replaced by the
empty caption's, so the model must learn to read that branch. The two random draws are made in this order from the
step's generator, which is what makes a resumed run repeat an uninterrupted one.
"""

import math
import time

import torch

from .denoiser import TEXT_KEYS


class TimeLimit:
    """`--time-limit-minutes`: `passed()` once the wall clock is past the limit (never with `minutes=None`). A run
    that finds it passed after a step logs and checkpoints that step, then stops."""

    def __init__(self, minutes: float | None) -> None:
        self.deadline = time.time() + 60 * minutes if minutes is not None else math.inf

    def passed(self) -> bool:
        return time.time() > self.deadline


def step_due(step: int, every: int, max_train_steps: int, out_of_time: bool) -> bool:
    """Whether to log (`--log-every`) or checkpoint (`--checkpoint-every`) after `step`: every `every` steps, at the
    last step and when the time limit has passed; never when `every` is 0 (a benchmark that writes no checkpoint)."""
    return every > 0 and (step % every == 0 or step == max_train_steps or out_of_time)


def dropout_rows(
    batch_size: int,
    caption_dropout: float,
    encoder_dropout: float,
    generator: torch.Generator,
    device: torch.device | str,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The rows to drop, each (B,) bool: the caption's (`caption_dropout`), then the encoder branch's
    (`encoder_dropout`; None, and nothing drawn, when it is 0). Drawn in this order from `generator`."""
    drop = torch.rand(batch_size, device=device, generator=generator) < caption_dropout  # (B,)
    if encoder_dropout <= 0:
        return drop, None
    alone = torch.rand(batch_size, device=device, generator=generator) < encoder_dropout  # (B,)
    return drop, alone


def with_empty_rows(text: dict, empty: dict, rows: torch.Tensor, keys: tuple[str, ...]) -> dict:
    """`text` with the chosen batch rows (`rows`, (B,) bool) of `keys` replaced by the empty caption's features
    (`empty`, each (1, ...)); on `rows`' device. A key whose value is None (no LLM branch) stays None."""
    out = dict(text)
    for k in keys:
        v = text.get(k)
        if v is not None:
            where = rows.view(-1, *[1] * (v.dim() - 1))  # (B, 1, ...)
            out[k] = torch.where(where, empty[k].to(rows.device), v.to(rows.device))
    return out


def caption_dropout(
    text: dict,
    empty: dict,
    caption_dropout: float,
    encoder_dropout: float,
    generator: torch.Generator,
    keep_encoder_mask: bool = False,
) -> dict:
    """A batch's text features (`text`, each (B, ...)) after caption dropout and encoder-branch dropout (pass
    `encoder_dropout=0` without an LLM branch), the empty caption's features (`empty`, each (1, ...)) put in place;
    on `generator`'s device.

    `keep_encoder_mask`: encoder-branch dropout replaces the encoder's embeddings but keeps the caption's own
    encoder mask, as the nano stages always did (the shipped Mimir-nano trained so, with `--encoder-dropout 0.3`);
    the full-scale recipe replaces the mask too (False)."""
    B = text["encoder_embeds"].shape[0]
    drop, alone = dropout_rows(B, caption_dropout, encoder_dropout, generator, generator.device)  # on its device
    text = with_empty_rows(text, empty, drop, TEXT_KEYS)
    if alone is not None:
        keys = ("encoder_embeds",) if keep_encoder_mask else ("encoder_embeds", "encoder_mask")
        text = with_empty_rows(text, empty, alone, keys)
    return text
