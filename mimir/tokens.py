"""Token-space analysis behind the app's t-SNE panel (paper Fig. 7), for the user's own prompts.

Four panels, as in the paper:

* (a) a set of prompts through the encoder branch, the LLM branch and the fused output (the DiT's condition);
* (b) one prompt through the LLM branch K times with answer sampling: query, answer and final (fused) tokens; the
  answers change from run to run (the paper's volatility) while the query tokens do not;
* (c) the raw encoder and LLM token distributions;
* (d) the same after the fuser's Norm & Scale (``token_fuser.normalize_llm``).

Common space (our choice; the paper does not say how it put 4096-d T5 and 3072-d Phi tokens into one t-SNE): every
token vector is zero-padded to the largest feature dimension of the panel, the panel is reduced to at most 50 dims by
one joint PCA, then embedded by t-SNE with a fixed ``random_state``. Zero-padding keeps each branch's own values, so
the layout shows how far apart the raw distributions are (the paper's point: LLM features are wide-ranged, far outside
the encoder's), instead of mapping the LLM through the fuser's zero-conv, which is all-zero at initialisation and would
collapse every LLM token to one point. Encoder and fused tokens share the dimension D and are directly comparable.

Only real tokens are plotted: masked (padding) positions are dropped; the fused output keeps the prompt's encoder
positions and the Semantic Stabilizer's tokens (labelled ``<stabilizer i>``).

Nothing here imports gradio.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import torch
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE

from .text_encoding import EncoderTokens
from .video import check_seed


if TYPE_CHECKING:  # an annotation only: mimir.pipeline (diffusers) takes 6.8 s to import, `tokens --help` 2.8 s
    from .pipeline import FusedTokens

MAX_PROMPTS = 16  # panel (a): t-SNE cost grows with the number of tokens; 16 prompts stay interactive on CPU
K_RANGE = (2, 16)  # panel (b): answer samples
PERPLEXITY_RANGE = (2.0, 100.0)
PCA_DIMS = 50  # the usual pre-reduction before t-SNE (van der Maaten & Hinton, 2008)
STATS_COLUMNS = (
    "source",
    "tokens",
    "dim",
    "min",
    "max",
    "p1",
    "p99",
    "mean |x|",
    "% |x| <= 0.5",
    "% |x| > 1",
    "mean norm",
    "max norm",
)


@dataclass
class TokenSet:
    """Token vectors of one source, one row per real (unmasked) token."""

    source: str
    vectors: np.ndarray  # (N, D)
    tokens: list[str]  # N token strings
    prompt_index: list[int]  # N: which prompt (panel a, c, d) or which run (panel b) the token came from

    @property
    def norms(self) -> np.ndarray:
        return np.linalg.norm(self.vectors, axis=1)  # (N,)


@dataclass
class TokenPanel:
    """One t-SNE panel: ``points`` has columns x, y, source, token, norm, index (prompt or run), label."""

    key: str
    title: str
    points: pd.DataFrame
    sources: list[str]


@dataclass
class TokenSpace:
    """All four panels plus the per-source value-range table, the volatility table and the sampled answers."""

    panels: dict[str, TokenPanel]
    stats: pd.DataFrame
    volatility: pd.DataFrame
    answers: list[str]
    prompts: list[str]
    notes: list[str] = field(default_factory=list)


# ----------------------------------------------------------------------------------------------- validation


def check_prompts(prompts: list[str]) -> list[str]:
    """Strip and keep non-empty prompts; ValueError when none or more than MAX_PROMPTS."""
    prompts = [p.strip() for p in prompts if p and p.strip()]
    if not prompts:
        raise ValueError("no prompts given for the token space: enter at least one prompt, one per line")
    if len(prompts) > MAX_PROMPTS:
        raise ValueError(f"{len(prompts)} prompts given for the token space; the limit is {MAX_PROMPTS}")
    return prompts


def check_k(k: int) -> int:
    if int(k) != k or not K_RANGE[0] <= k <= K_RANGE[1]:
        raise ValueError(f"K = {k!r} answer samples is outside the allowed range {K_RANGE[0]}..{K_RANGE[1]}")
    return int(k)


def check_perplexity(perplexity: float, n_points: int, panel: str = "") -> float:
    """t-SNE needs ``perplexity < n_points`` (scikit-learn) and we keep it within PERPLEXITY_RANGE."""
    where = f" in panel ({panel})" if panel else ""
    if not PERPLEXITY_RANGE[0] <= perplexity <= PERPLEXITY_RANGE[1]:
        raise ValueError(
            f"perplexity {perplexity!r} is outside the allowed range {PERPLEXITY_RANGE[0]:g}..{PERPLEXITY_RANGE[1]:g}"
        )
    if perplexity >= n_points:
        raise ValueError(
            f"perplexity {perplexity:g} must be below the number of token points{where}, which is {n_points}: "
            "lower the perplexity or add prompts"
        )
    return float(perplexity)


# ----------------------------------------------------------------------------------------------- token sets


def _to_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().float().cpu().numpy()


def _readable(token: str) -> str:
    """Show byte-level BPE ("Ġred") and SentencePiece ("▁red") word-start marks as a plain leading space."""
    return str(token).replace("Ġ", " ").replace("▁", " ").replace("Ċ", "\\n")


def token_set(
    source: str, embeds: torch.Tensor, mask: torch.Tensor | None, token_strs: list[list[str]] | None
) -> TokenSet:
    """Gather the real tokens of ``embeds`` (B, L, D) under ``mask`` (B, L) into one TokenSet.

    ``token_strs[b]`` may list either the real tokens only (what ``text_encoding`` returns) or all L positions.
    """
    emb = _to_numpy(embeds)  # (B, L, D)
    keep = np.ones(emb.shape[:2], dtype=bool) if mask is None else _to_numpy(mask) > 0  # (B, L)
    vectors, tokens, index = [], [], []
    for b in range(emb.shape[0]):
        positions = np.flatnonzero(keep[b])
        strs = list(token_strs[b]) if token_strs and b < len(token_strs) else []
        if len(strs) == emb.shape[1] and len(strs) != len(positions):
            strs = [strs[i] for i in positions]  # strings given per position
        strs = [_readable(t) for t in (strs + ["?"] * len(positions))[: len(positions)]]
        vectors.append(emb[b, positions])
        tokens += strs
        index += [b] * len(positions)
    dim = emb.shape[-1]
    return TokenSet(source, np.concatenate(vectors) if vectors else np.zeros((0, dim)), tokens, index)


def fused_set(encoder: EncoderTokens, fused: FusedTokens, source: str = "fused") -> TokenSet:
    """Fused condition tokens: the prompt's encoder positions plus the k stabilizer tokens at the end (B, n + k, D),
    named after the encoder tokens they start from."""
    n = encoder.embeds.shape[1]
    k = fused.embeds.shape[1] - n
    enc_mask = encoder.mask.bool()  # (B, n)
    mask = fused.mask.bool().clone()  # (B, n + k)
    mask[:, :n] &= enc_mask
    strs = []
    for b in range(fused.embeds.shape[0]):
        enc_strs = list(encoder.token_strs[b])
        valid = enc_mask[b].tolist()
        it = iter(enc_strs)
        per_position = [next(it, "?") if v else "<pad>" for v in valid] + [f"<stabilizer {i}>" for i in range(k)]
        strs.append(per_position)
    return token_set(source, fused.embeds, mask, strs)


def value_stats(sets: list[TokenSet]) -> pd.DataFrame:
    """Per-source value range and token norms (the paper: T5 within about [-0.5, 0.5], Phi beyond [-1, 1])."""
    rows = []
    for s in sets:
        v = s.vectors
        if v.size == 0:
            continue
        norms = s.norms
        rows.append(
            {
                "source": s.source,
                "tokens": v.shape[0],
                "dim": v.shape[1],
                "min": v.min(),
                "max": v.max(),
                "p1": np.percentile(v, 1),
                "p99": np.percentile(v, 99),
                "mean |x|": np.abs(v).mean(),
                "% |x| <= 0.5": 100.0 * (np.abs(v) <= 0.5).mean(),
                "% |x| > 1": 100.0 * (np.abs(v) > 1.0).mean(),
                "mean norm": norms.mean(),
                "max norm": norms.max(),
            }
        )
    table = pd.DataFrame(rows, columns=list(STATS_COLUMNS))
    floats = [c for c in STATS_COLUMNS if c not in ("source", "tokens", "dim")]
    table[floats] = table[floats].astype(float).round(3)  # float32 values would print as -2.4270000457
    return table


def volatility(sets: list[TokenSet], runs: int) -> pd.DataFrame:
    """Run-to-run volatility of each source in panel (b).

    Per run, the source's tokens are mean-pooled to one vector; volatility is the mean pairwise cosine distance
    (1 - cos) between the runs' vectors: 0 when every run gives the same tokens (the query), larger when the sampled
    answer changes them. Our measure; the paper shows volatility only visually.
    """
    rows = []
    for s in sets:
        index = np.asarray(s.prompt_index)
        pooled = [s.vectors[index == r].mean(axis=0) for r in range(runs) if (index == r).any()]
        if len(pooled) < 2:
            vol = float("nan")
        else:
            p = np.stack(pooled)  # (runs, D)
            p = p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-12)
            cos = p @ p.T
            upper = np.triu_indices(len(p), k=1)
            vol = max(float(np.mean(1.0 - cos[upper])), 0.0)  # rounding can give -1e-8 for identical runs
        rows.append({"source": s.source, "volatility (mean 1 - cos)": vol, "tokens per run": len(s.tokens) / runs})
    return pd.DataFrame(rows).round(4)


# ----------------------------------------------------------------------------------------------- t-SNE


def embed_2d(
    sets: list[TokenSet], perplexity: float, random_state: int = 0, panel: str = "", max_iter: int = 1000
) -> pd.DataFrame:
    """Joint t-SNE of several token sets (zero-padded to a common dim, PCA to <= 50 dims). Returns the points table."""
    n = sum(len(s.tokens) for s in sets)
    check_perplexity(perplexity, n, panel)
    dim = max(s.vectors.shape[1] for s in sets)
    # (N, dim): zero-pad each source to the widest one (see the module docstring for why).
    x = np.concatenate([np.pad(s.vectors, ((0, 0), (0, dim - s.vectors.shape[1]))) for s in sets]).astype(np.float64)
    n_components = min(PCA_DIMS, n - 1, dim)
    if n_components >= 2 and dim > n_components:
        x = PCA(n_components=n_components, random_state=random_state).fit_transform(x)  # (N, <= 50)
    xy = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca",
        learning_rate="auto",
        max_iter=max_iter,
        random_state=random_state,
    ).fit_transform(x)  # (N, 2)
    return pd.DataFrame(
        {
            "x": xy[:, 0],
            "y": xy[:, 1],
            "source": [s.source for s in sets for _ in s.tokens],
            "token": [t for s in sets for t in s.tokens],
            "norm": np.concatenate([s.norms for s in sets]).round(3),
            "index": [i for s in sets for i in s.prompt_index],
        }
    )


def token_space(
    pipe: Any,
    prompts: list[str],
    answer_prompt: str | None = None,
    k: int = 4,
    perplexity: float = 10.0,
    seed: int = 0,
    random_state: int = 0,
    max_iter: int = 1000,
    progress: Callable[[float, str], None] | None = None,
) -> TokenSpace:
    """All four Fig. 7 panels for ``prompts`` (a, c, d) and ``answer_prompt`` sampled ``k`` times (b).

    Args:
        pipe: a MimirPipeline (``encode_tokens`` and ``token_fuser.normalize_llm``).
        prompts: 1..MAX_PROMPTS prompts, each within the pipeline's n tokens (``check_prompt_lengths``).
        answer_prompt: the prompt of panel (b); defaults to the first prompt.
        k: answer samples in panel (b), within K_RANGE.
        perplexity: t-SNE perplexity, within PERPLEXITY_RANGE and below every panel's number of points.
        seed: seeds the answer sampling of panel (b) (``torch.Generator``), so the answers are reproducible.
        random_state: t-SNE and PCA seed, fixed so a layout is reproducible.
        max_iter: t-SNE iterations (scikit-learn's default 1000; fewer for quick previews and tests).
        progress: called as ``progress(fraction, stage)`` when each stage starts (encoding, sampling, each t-SNE).
    """
    prompts = check_prompts(prompts)
    k = check_k(k)
    check_perplexity(perplexity, 10**9)  # range check before any encoding
    seed = check_seed(seed)  # before the minutes of encoding and sampling, not after them
    answer_prompt = (answer_prompt or "").strip() or prompts[0]
    pipe.check_prompt_lengths(prompts)  # a prompt longer than n is refused here too, never cut
    pipe.check_prompt_lengths([answer_prompt], "answer_prompt")
    report = progress or (lambda fraction, stage: None)

    # 1. Encode the prompt set once (deterministic: no answers) -> panels a, c, d.
    report(0.0, f"encoding {len(prompts)} prompts: encoder, LLM, fuser")
    encoding, fused_tokens = pipe.encode_tokens(prompts, llm_answer_tokens=False)
    enc, llm_tokens = encoding.encoder, encoding.llm.combined  # (B, n, D), (B, n, L, D_llm)
    encoder = token_set("encoder", enc.embeds, enc.mask, enc.token_strs)
    # (B, m, L, D_llm) -> (B, m, D_llm): the L hidden layers as the fuser mixes them
    mix = pipe.token_fuser.mix_llm_layers
    with torch.no_grad():
        llm_embeds = mix(llm_tokens.embeds)  # (B, n, D_llm)
        normed = pipe.token_fuser.normalize_llm(llm_embeds)  # (B, n, D_llm)
    llm = token_set("LLM", llm_embeds, llm_tokens.mask, llm_tokens.token_strs)
    fused = fused_set(enc, fused_tokens)
    llm_norm = token_set("LLM after Norm & Scale", normed, llm_tokens.mask, llm_tokens.token_strs)

    # 2. One prompt K times with sampled answers -> panel b.
    report(0.15, f"sampling {k} answers from the LLM (b)")
    generator = torch.Generator().manual_seed(int(seed))
    sampled, sampled_fused = pipe.encode_tokens([answer_prompt] * k, llm_answer_tokens=True, generator=generator)
    q_tokens, answers = sampled.llm.query, sampled.llm.answers  # (k, n, L, D_llm), (k, a, L, D_llm)
    with torch.no_grad():
        q_embeds, a_embeds = mix(q_tokens.embeds), mix(answers.tokens.embeds)  # (k, n, D_llm), (k, a, D_llm)
    query = token_set("query", q_embeds, q_tokens.mask, q_tokens.token_strs)
    answer = token_set("answer", a_embeds, answers.tokens.mask, answers.tokens.token_strs)
    final = fused_set(sampled.encoder, sampled_fused, source="final")

    # 3. Check perplexity against every panel before spending time in t-SNE.
    panel_sets = {
        "a": ("(a) prompts through encoder, LLM and fused output", [encoder, llm, fused]),
        "b": (f"(b) one prompt, {k} sampled answers: query, answer, final", [query, answer, final]),
        "c": ("(c) raw encoder vs LLM tokens", [encoder, llm]),
        "d": ("(d) encoder vs LLM after the fuser's Norm & Scale", [encoder, llm_norm]),
    }
    for key, (_, sets) in panel_sets.items():
        check_perplexity(perplexity, sum(len(s.tokens) for s in sets), key)

    # 4. t-SNE per panel with the same random_state.
    panels = {}
    for i, (key, (title, sets)) in enumerate(panel_sets.items()):
        report(0.4 + 0.15 * i, f"t-SNE of panel ({key})")
        points = embed_2d(sets, perplexity, random_state=random_state, panel=key, max_iter=max_iter)
        labels = prompts if key != "b" else [f"run {r}" for r in range(k)]
        points["label"] = [labels[i] if i < len(labels) else str(i) for i in points["index"]]
        panels[key] = TokenPanel(key=key, title=title, points=points, sources=[s.source for s in sets])

    return TokenSpace(
        panels=panels,
        stats=value_stats([encoder, llm, llm_norm, fused, answer]),
        volatility=volatility([query, answer, final], runs=k),
        answers=list(answers.texts),
        prompts=prompts,
        notes=[
            "Common space: zero-pad to the widest feature dim, joint PCA to <= 50 dims, t-SNE (fixed random_state).",
            "Volatility: mean pairwise cosine distance between runs of the mean-pooled tokens (0 = identical).",
        ],
    )


def figure(panel: TokenPanel) -> Any:
    """A plotly scatter of one panel: one trace per source (legend toggles), hover shows token, source and norm."""
    fig = go.Figure()
    for source in panel.sources:
        pts = panel.points[panel.points["source"] == source]
        fig.add_trace(
            go.Scatter(
                x=pts["x"],
                y=pts["y"],
                mode="markers",
                name=source,
                marker={"size": 7, "opacity": 0.8},
                customdata=np.stack([pts["token"], pts["source"], pts["norm"], pts["label"]], axis=-1),
                hovertemplate="token: %{customdata[0]}<br>source: %{customdata[1]}<br>norm: %{customdata[2]}"
                "<br>%{customdata[3]}<extra></extra>",
            )
        )
    fig.update_layout(
        title=panel.title,
        xaxis_title="t-SNE 1",
        yaxis_title="t-SNE 2",
        legend_title="source (click to toggle)",
        margin={"l": 40, "r": 10, "t": 50, "b": 40},
        height=420,
    )
    return fig


def cli_main(argv: list[str] | None = None) -> int:
    """``python -m mimir tokens --prompt P [--prompt P ...]``: print the tables, write the four panels as HTML."""
    parser = argparse.ArgumentParser(prog="python -m mimir tokens", description="Token space (paper Fig. 7).")
    parser.add_argument("--prompt", action="append", required=True, help="repeat for several prompts (a, c, d)")
    parser.add_argument("--answer-prompt", default=None, help="prompt of panel (b); default: the first prompt")
    parser.add_argument("--k", type=int, default=4, help="answer samples in panel (b)")
    parser.add_argument("--perplexity", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0, help="answer sampling seed")
    parser.add_argument("--preset", default="nano")
    parser.add_argument("--mimir-weights", default=None)
    parser.add_argument("--out-dir", default=None, help="write panel_a.html .. panel_d.html here")
    args = parser.parse_args(argv)
    from mimir.loading import load_pipelines

    pipes = load_pipelines(args.preset, mimir_weights=args.mimir_weights)
    space = token_space(
        pipes.mimir, args.prompt, args.answer_prompt, k=args.k, perplexity=args.perplexity, seed=args.seed
    )
    with pd.option_context("display.width", 160, "display.max_columns", 20):
        print("Per-source value ranges and norms\n" + space.stats.to_string(index=False))
        print("\nVolatility across runs (panel b)\n" + space.volatility.to_string(index=False))
    print("\nSampled answers:\n" + "\n".join(f"  {i + 1}. {a}" for i, a in enumerate(space.answers)))
    if args.out_dir:
        out = Path(args.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        for key, panel in space.panels.items():
            figure(panel).write_html(out / f"panel_{key}.html", include_plotlyjs="cdn")
        print(f"\nwrote {out}/panel_a.html .. panel_d.html")
    return 0
