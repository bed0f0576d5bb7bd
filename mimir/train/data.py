"""Training data of the nano world: a fixed pool of (scene spec, caption, render seed) items, rendered on the fly,
and the frozen text features of every caption, computed once per pool.

The pool is fixed (not sampled per step) so that the text branches, which are frozen, run once per caption instead
of once per step: on the GPU machine that turns the LLM's five passes per caption into a few seconds up front.
"""

import random
from dataclasses import dataclass

import torch

from mimir.text_encoding import PromptEncoder
from mimir.world.captions import caption
from mimir.world.render import render
from mimir.world.sampler import sample_spec
from mimir.world.spec import SceneSpec


@dataclass
class Pool:
    specs: list[SceneSpec]
    captions: list[str]
    seeds: list[int]  # render seed of each item

    def __len__(self) -> int:
        return len(self.specs)


def build_pool(size: int, seed: int) -> Pool:
    """`size` items covering every dimension; captions only from the training wordings (the held-out split is never
    seen in training)."""
    rng = random.Random(seed)
    specs = [sample_spec(rng, id=f"train-{i}") for i in range(size)]
    captions = [caption(s, rng, split="train") for s in specs]
    seeds = [rng.randrange(2**31) for _ in specs]
    return Pool(specs, captions, seeds)


def render_items(pool: Pool, index: list[int], num_frames: int, height: int, width: int, device) -> torch.Tensor:
    """Videos of the given pool items as the VAE wants them: (B, 3, F, H, W) in [-1, 1]."""
    video = render([pool.specs[i] for i in index], [pool.seeds[i] for i in index], num_frames, height, width, device)
    return video.permute(0, 4, 1, 2, 3) * 2.0 - 1.0  # (B, F, H, W, 3) -> (B, 3, F, H, W)


@dataclass
class TextFeatures:
    """Frozen text features of every pool caption plus, at index -1 of each tensor, the empty caption used for
    caption dropout (classifier-free guidance)."""

    encoder_embeds: torch.Tensor  # (N + 1, n, D)
    encoder_mask: torch.Tensor  # (N + 1, n)
    llm_embeds: torch.Tensor | None = None  # (N + 1, n, L, D_llm)
    llm_mask: torch.Tensor | None = None  # (N + 1, n)
    instruction_embeds: torch.Tensor | None = None  # (N + 1, 4, L, D_llm)

    def to(self, device) -> "TextFeatures":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return TextFeatures(*(move(getattr(self, f)) for f in self.__dataclass_fields__))

    def take(self, index: torch.Tensor) -> dict:
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return {f: pick(getattr(self, f)) for f in self.__dataclass_fields__}


@torch.no_grad()
def encode_captions(encoder: PromptEncoder, captions: list[str], with_llm: bool, chunk: int = 2048) -> TextFeatures:
    """Run both frozen branches over the captions and the empty caption (appended last), in chunks."""
    texts = list(captions) + [""]
    parts = []
    for start in range(0, len(texts), chunk):
        encoding = encoder.encode(texts[start : start + chunk], with_llm=with_llm, device="cpu", dtype=torch.float16)
        encoder.clear_cache()
        parts.append(encoding)
    encoders = [p.encoder for p in parts]
    llms = [p.llm for p in parts] if with_llm else []
    return TextFeatures(
        encoder_embeds=torch.cat([e.embeds for e in encoders]),  # (N + 1, n, D)
        encoder_mask=torch.cat([e.mask for e in encoders]),  # (N + 1, n)
        llm_embeds=torch.cat([t.combined.embeds for t in llms]) if llms else None,  # (N + 1, n, L, D_llm)
        llm_mask=torch.cat([t.combined.mask for t in llms]) if llms else None,  # (N + 1, n)
        instruction_embeds=torch.cat([t.instruction_embeds for t in llms]) if llms else None,  # (N + 1, 4, L, D_llm)
    )
