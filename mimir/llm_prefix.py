"""The LLM branch's fixed text prefixes, run once and reused across prompts.

Each text the LLM branch reads is a chat template around the user's prompt: the system prompt and the user-turn
markers, then, for the four stabilizer rows, the instruction's own words ("Which objects, and how many of each, appear
in this video? "), then the prompt. Everything before the prompt is the same for every prompt. Causal attention makes
the hidden states and the key/value cache of those positions independent of what follows, so they are computed once
per (LLM, prefix, layers) and a new prompt runs only its own tokens and the closing markers. With the shipped
texts and SmolLM2's tokenizer the prefixes are 28 (the prompt alone) to 42 tokens long, most of every row.

Exact up to float rounding, as `llm_hidden_states`' shared-prefix pass already was: a test compares against the
plain forward. Where the tokenizer merges the prefix's last token with a prompt's first characters, the row's ids do
not start with the cached ids; that group then runs without the cache (checked per call, never assumed).
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable

import torch
from transformers import DynamicCache


# Two unlike probe prompts: the tokens both templates share, less one, cannot depend on the prompt (the last shared
# token could still merge with a prompt's first characters in some tokenizer, so it is left to the prompt's side).
PROBES = ("a", "Zq 7")


def fixed_prefix_ids(
    tokenize: Callable[[str], list[int]], template: str, chat: Callable[[str], str]
) -> tuple[int, ...]:
    """Token ids that `chat(template.format(prompt=...))` starts with whatever the prompt is."""
    first, second = (tokenize(chat(template.format(prompt=p))) for p in PROBES)
    n = 0
    while n < min(len(first), len(second)) and first[n] == second[n]:
        n += 1
    return tuple(first[: max(n - 1, 0)])


@dataclass
class PrefixStates:
    """A prefix's key/value cache per decoder layer and its hidden states at the selected layers."""

    ids: tuple[int, ...]  # (P,)
    key_values: list[tuple[torch.Tensor, torch.Tensor]]  # per decoder layer: (1, heads_kv, P, head_dim) each
    hidden: torch.Tensor  # (1, P, L, D_llm)


class PrefixCache:
    """LRU store of `PrefixStates`, keyed by the LLM object, the prefix ids and the layers."""

    def __init__(self, max_entries: int = 32):
        self.max_entries = max_entries
        self._entries: OrderedDict[tuple, PrefixStates] = OrderedDict()

    def get(self, llm, ids: tuple[int, ...], layers: list[int], device: torch.device) -> PrefixStates:
        key = (id(llm), ids, tuple(layers))
        if key not in self._entries:
            prefix = torch.tensor([ids], device=device)  # (1, P)
            out = llm(input_ids=prefix, use_cache=True, output_hidden_states=True, logits_to_keep=1)
            key_values = [(layer.keys, layer.values) for layer in out.past_key_values.layers]
            hidden = torch.stack([out.hidden_states[i] for i in layers], dim=2)  # (1, P, L, D_llm)
            self._entries[key] = PrefixStates(ids, key_values, hidden)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
        return self._entries[key]

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


@dataclass
class Group:
    """Rows that share one cached prefix (or none): their ids and mask after it, right-padded."""

    ids: torch.Tensor  # (B_g, T_g) the tokens after the prefix
    mask: torch.Tensor  # (B_g, T_g) bool
    prefix: PrefixStates | None


def hidden_after_prefixes(llm, groups: list[Group], layers: list[int], pad_id: int) -> list[torch.Tensor]:
    """Hidden states at `layers` of every group's rows, prefix positions included, from ONE forward pass.

    Why one pass: a forward of a small LLM on a CPU costs about as much for one token as for fifteen (its weights
    are read once per pass), so the groups are stacked rather than run in turn. Their prefixes differ in length, so
    each row's cached prefix is left-padded to the longest with masked positions, and its own tokens get explicit
    position ids that continue its prefix (rotary embeddings see the positions the rows have alone).

    Returns one (B_g, P_g + T_g, L, D_llm) tensor per group.
    """
    device = groups[0].ids.device
    lengths = [0 if g.prefix is None else len(g.prefix.ids) for g in groups]
    P, T = max(lengths), max(g.ids.shape[1] for g in groups)
    ids, mask, positions, rows = [], [], [], []
    for g, p in zip(groups, lengths):
        B, t = g.ids.shape
        ids.append(torch.nn.functional.pad(g.ids, (0, T - t), value=pad_id))  # (B, T)
        own = torch.nn.functional.pad(g.mask.long(), (0, T - t))  # (B, T)
        mask.append(torch.cat([own.new_zeros(B, P - p), own.new_ones(B, p), own], dim=1))  # (B, P + T)
        positions.append((p + torch.arange(T, device=device)).expand(B, -1))  # (B, T)
        rows.append(B)
    kwargs = {}
    if P > 0:
        cache = DynamicCache(config=llm.config)
        for layer in range(len(next(g.prefix for g in groups if g.prefix is not None).key_values)):
            keys, values = [], []
            for g, p, B in zip(groups, lengths, rows):
                if g.prefix is None:
                    like = next(x.prefix for x in groups if x.prefix is not None).key_values[layer][0]
                    k = v = like.new_zeros(B, like.shape[1], P, like.shape[3])
                else:
                    k, v = (t.to(device).expand(B, -1, -1, -1) for t in g.prefix.key_values[layer])
                    k, v = (torch.nn.functional.pad(t, (0, 0, P - p, 0)) for t in (k, v))  # left-pad positions
                keys.append(k)
                values.append(v)
            cache.update(torch.cat(keys), torch.cat(values), layer)  # (R, heads_kv, P, head_dim)
        kwargs["past_key_values"] = cache
    out = llm(
        input_ids=torch.cat(ids),  # (R, T)
        attention_mask=torch.cat(mask),  # (R, P + T)
        position_ids=torch.cat(positions),  # (R, T)
        use_cache=P > 0,
        output_hidden_states=True,
        logits_to_keep=1,
        **kwargs,
    )
    tail = torch.stack([out.hidden_states[i] for i in layers], dim=2)  # (R, T, L, D_llm)
    results, start = [], 0
    for g, B in zip(groups, rows):
        own = tail[start : start + B, : g.ids.shape[1]]  # (B, T_g, L, D_llm)
        if g.prefix is not None:
            own = torch.cat([g.prefix.hidden.to(device).expand(B, -1, -1, -1), own], dim=1)
        results.append(own)
        start += B
    return results
