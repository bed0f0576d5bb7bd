"""Training data of the nano world: a fixed pool of (scene spec, caption, render seed) items, rendered on the fly,
and the frozen text features of every caption, computed once per pool.

`world="v1"` is the nano world of the shipped `nano` preset; `world="v2"` draws world v2's scenes (the seven
categories, training compositions only: `mimir.world.v2.sampler`) with world v2's training wordings
(`mimir.world.v2.captions`) and renders them with v2's renderer, whose backgrounds are places, not one colour
(`backgrounds_of` gives them exactly, for the VAE's object weights).

The pool is fixed (not sampled per step) so that the text branches, which are frozen, run once per caption instead
of once per step: on the GPU machine that turns the LLM's five passes per caption into a few seconds up front.
"""

import random
from dataclasses import dataclass

import numpy as np
import torch

from mimir.bench.suite import spec_seed
from mimir.presets import World
from mimir.text_encoding import PromptEncoder
from mimir.world.captions import caption
from mimir.world.render import render
from mimir.world.sampler import sample_spec
from mimir.world.spec import SceneSpec
from mimir.world.v2.captions import caption as v2_caption
from mimir.world.v2.render import render as v2_render
from mimir.world.v2.render import render_layout as v2_render_layout
from mimir.world.v2.sampler import sample_spec as v2_sample_spec
from mimir.world.v2.spec import SceneSpec as V2SceneSpec
from mimir.world.v2.vocab import CATEGORIES


@dataclass
class Pool:
    specs: list[SceneSpec] | list[V2SceneSpec]
    captions: list[str]
    seeds: list[int]  # render seed of each item
    world: World = "v1"

    def __len__(self) -> int:
        return len(self.specs)


def build_pool(size: int, seed: int, world: World = "v1") -> Pool:
    """`size` items covering every dimension (v1) or category (v2); captions only from the training wordings (the
    held-out split is never seen in training), and in v2 only training compositions (the v2 sampler's `train`)."""
    if world == "v2":
        return _build_v2_pool(size, seed)
    rng = random.Random(seed)
    specs = [sample_spec(rng, id=f"train-{i}") for i in range(size)]
    captions = [caption(s, rng, split="train") for s in specs]
    seeds = [rng.randrange(2**31) for _ in specs]
    return Pool(specs, captions, seeds)


def _build_v2_pool(size: int, seed: int) -> Pool:
    """World v2: a category drawn uniformly per item (our choice, as v1 draws its dimensions), then a `train`
    composition of it. The render seed is the one the sampler checked the layout with (the id's `-s<seed>`)."""
    rng = random.Random(seed)
    categories = [rng.choice(CATEGORIES) for _ in range(size)]
    specs = [v2_sample_spec(rng, c, id=f"train-{i}") for i, c in enumerate(categories)]
    captions = [v2_caption(s, rng, split="train") for s in specs]
    return Pool(specs, captions, [spec_seed(s) for s in specs], world="v2")


def render_items(pool: Pool, index: list[int], num_frames: int, height: int, width: int, device) -> torch.Tensor:
    """Videos of the given pool items as the VAE wants them: (B, 3, F, H, W) in [-1, 1]."""
    draw = v2_render if pool.world == "v2" else render
    video = draw([pool.specs[i] for i in index], [pool.seeds[i] for i in index], num_frames, height, width, device)
    return video.permute(0, 4, 1, 2, 3) * 2.0 - 1.0  # (B, F, H, W, 3) -> (B, 3, F, H, W)


def backgrounds_of(pool: Pool, index: list[int], num_frames: int, height: int, width: int, device) -> torch.Tensor:
    """World v2: each item's background (the same in every frame) as (B, 3, 1, H, W) in [-1, 1], from its layout, so
    that a pixel differs from it exactly where an object covers it."""
    if pool.world != "v2":
        raise ValueError(f"backgrounds_of is for world v2 pools; this pool is {pool.world!r}")
    layouts = [
        v2_render_layout(pool.specs[i], pool.seeds[i], num_frames, height, width) for i in index
    ]  # deterministic: the layouts `render_items` drew
    image = torch.from_numpy(np.stack([lay.background for lay in layouts])).to(device, torch.float32)  # (B, H, W, 3)
    return image.permute(0, 3, 1, 2)[:, :, None] * 2.0 - 1.0  # (B, 3, 1, H, W)


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
