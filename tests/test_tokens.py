"""Token-space analysis (paper Fig. 7): the panels and tables on a tiny fake pipeline (fast, deterministic), and the
paper's volatility claim on the real nano LLM, where a fake could only confirm what it was built to do."""

import numpy as np
import pytest
import torch

from mimir import tokens
from mimir.pipeline import FusedTokens
from mimir.text_encoding import Answers, EncoderTokens, Encoding, LLMBranchTokens, LLMTokens


N, D, D_LLM, K_STAB = 12, 16, 24, 4  # encoder length, encoder dim, LLM dim, stabilizer tokens


class _FakeFuser(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.tensor(0.1))

    def mix_llm_layers(self, h):  # (B, m, 1, D_llm) -> (B, m, D_llm): one hidden layer
        return h[:, :, 0]

    def normalize_llm(self, h):  # (B, m, D_llm) -> (B, m, D_llm): Norm & Scale
        return self.scale * torch.nn.functional.layer_norm(h, h.shape[-1:])


class _FakePipe:
    """encode_tokens with the pipeline's contract: encoder ~[-0.5, 0.5], LLM wide-ranged, answers random."""

    def __init__(self):
        self.token_fuser = _FakeFuser()

    def check_prompt_lengths(self, texts, name="prompt"):  # the pipeline's rule on the fake's word tokens (+ 1)
        for text in texts:
            if len(text.split()) + 1 > N:
                raise ValueError(f"{name} is {len(text.split()) + 1} tokens long; this model reads at most {N}")

    def encode_tokens(self, prompts, llm_answer_tokens=False, generator=None):
        B = len(prompts)
        words = [p.split() for p in prompts]
        lengths = [min(len(w) + 1, N) for w in words]
        mask = torch.zeros(B, N, dtype=torch.long)
        for b, n in enumerate(lengths):
            mask[b, :n] = 1
        # deterministic per prompt, like the real branches
        gens = [torch.Generator().manual_seed(sum(map(ord, p))) for p in prompts]
        enc = torch.stack([torch.rand(N, D, generator=g) - 0.5 for g in gens])  # (B, N, D)
        llm = torch.stack([4 * torch.randn(N, 1, D_LLM, generator=g) for g in gens])  # (B, N, L=1, D_LLM)
        g = gens[0]
        query = LLMTokens(llm, mask.clone(), [(w + ["."])[:n] for w, n in zip(words, lengths)])
        fused = torch.cat([enc, torch.randn(B, K_STAB, D, generator=g)], dim=1)  # (B, N + K_STAB, D)
        answers = None
        if llm_answer_tokens:
            a = 5
            answer_embeds = 4 * torch.randn(B, a, 1, D_LLM, generator=generator)  # (B, a, L=1, D_LLM)
            answer_strs = [[f"ans{b}_{i}" for i in range(a)] for b in range(B)]
            answer_tokens = LLMTokens(answer_embeds, torch.ones(B, a, dtype=torch.long), answer_strs)
            answers = Answers(answer_tokens, [f"answer {b}" for b in range(B)])
            fused[:, :5] += answer_embeds[:, :, 0, :D]  # answers change the final tokens
        encoding = Encoding(
            encoder=EncoderTokens(enc, mask, [(w + ["</s>"])[:n] for w, n in zip(words, lengths)]),
            llm=LLMBranchTokens(
                combined=query,  # the fake's answers are not appended to the query: token_space reads them apart
                query=query,
                instruction_embeds=torch.randn(B, 4, 1, D_LLM, generator=g),
                answers=answers,
            ),
        )
        fused_mask = torch.cat([mask, torch.ones(B, K_STAB, dtype=torch.long)], dim=1)  # (B, N + K_STAB)
        return encoding, FusedTokens(fused, fused_mask)


PROMPTS = ["a red circle left of a blue square", "three yellow triangles", "a green cross moves up"]


def test_token_space_panels_and_tables():
    space = tokens.token_space(_FakePipe(), PROMPTS, k=3, perplexity=5, seed=0, max_iter=250)
    assert set(space.panels) == {"a", "b", "c", "d"}
    a = space.panels["a"].points
    assert set(a["source"]) == {"encoder", "LLM", "fused"}
    n_real = sum(min(len(p.split()) + 1, N) for p in PROMPTS)
    assert (a["source"] == "encoder").sum() == n_real
    assert (a["source"] == "fused").sum() == n_real + len(PROMPTS) * K_STAB  # prompt positions + stabilizer
    assert "<stabilizer 0>" in set(a["token"])
    assert {"x", "y", "token", "source", "norm", "label"} <= set(a.columns)
    assert set(space.panels["b"].points["source"]) == {"query", "answer", "final"}
    assert set(space.panels["d"].points["source"]) == {"encoder", "LLM after Norm & Scale"}

    stats = space.stats.set_index("source")
    assert list(space.stats.columns) == list(tokens.STATS_COLUMNS)
    assert stats.loc["encoder", "max"] <= 0.5 and stats.loc["LLM", "max"] > 1
    assert stats.loc["LLM after Norm & Scale", "mean |x|"] < stats.loc["LLM", "mean |x|"]

    # the fake's query is deterministic by construction: query stability is tested on the real LLM below
    vol = space.volatility.set_index("source")["volatility (mean 1 - cos)"]
    assert vol["answer"] > 0.1 and vol["final"] > 0
    assert space.answers == ["answer 0", "answer 1", "answer 2"]


def test_progress_goes_through_the_stages():
    seen = []
    record = lambda fraction, stage: seen.append((fraction, stage))  # noqa: E731
    tokens.token_space(_FakePipe(), PROMPTS, k=2, perplexity=5, max_iter=250, progress=record)
    stages = [s for _, s in seen]
    assert stages[:2] == ["encoding 3 prompts: encoder, LLM, fuser", "sampling 2 answers from the LLM (b)"]
    assert stages[2:] == [f"t-SNE of panel ({key})" for key in "abcd"]
    fractions = [f for f, _ in seen]
    assert fractions == sorted(fractions) and fractions[-1] < 1


@pytest.mark.slow
def test_query_tokens_are_stable_and_answers_volatile_on_the_real_llm(nano_pipes):
    """Panel (b) on the real SmolLM2 (paper Fig. 7b): K sampled answers differ from run to run and move the answer
    tokens, while the query tokens of the same prompt stay where they are."""
    space = tokens.token_space(
        nano_pipes.mimir, ["two red circles to the left of a blue square"], k=2, perplexity=5, seed=0, max_iter=250
    )
    assert len(set(space.answers)) == 2, space.answers  # the runs really sampled different answers
    vol = space.volatility.set_index("source")["volatility (mean 1 - cos)"]
    assert vol["query"] == pytest.approx(0, abs=1e-4)
    assert vol["answer"] > 0.01, vol


def test_layout_is_reproducible():
    one = tokens.token_space(_FakePipe(), PROMPTS, k=2, perplexity=5, seed=1, max_iter=250)
    two = tokens.token_space(_FakePipe(), PROMPTS, k=2, perplexity=5, seed=1, max_iter=250)
    np.testing.assert_allclose(one.panels["a"].points[["x", "y"]], two.panels["a"].points[["x", "y"]])


@pytest.mark.parametrize("perplexity", [1.0, 500.0])
def test_perplexity_out_of_range(perplexity):
    with pytest.raises(ValueError, match=f"perplexity {perplexity!r}"):
        tokens.token_space(_FakePipe(), PROMPTS, perplexity=perplexity)


def test_perplexity_above_point_count_names_value_and_limit():
    with pytest.raises(ValueError) as err:
        tokens.token_space(_FakePipe(), ["red"], k=2, perplexity=90)
    msg = str(err.value)
    assert "perplexity 90" in msg and "which is" in msg


@pytest.mark.parametrize(("kwargs", "needle"), [({"k": 1}, "K = 1"), ({"k": 40}, "K = 40")])
def test_bad_k(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        tokens.token_space(_FakePipe(), PROMPTS, **kwargs)


def test_prompts_longer_than_n_are_refused_before_any_encoding():
    pipe = _FakePipe()
    pipe.encode_tokens = None  # an encoding attempt would raise TypeError, not the length error
    long = " ".join(["red"] * N)
    with pytest.raises(ValueError, match=f"prompt is {N + 1} tokens long; this model reads at most {N}"):
        tokens.token_space(pipe, [PROMPTS[0], long])
    with pytest.raises(ValueError, match=f"answer_prompt is {N + 1} tokens long"):
        tokens.token_space(pipe, PROMPTS, answer_prompt=long)


def test_bad_prompts():
    with pytest.raises(ValueError, match="no prompts"):
        tokens.check_prompts(["", "  "])
    with pytest.raises(ValueError, match="limit is 16"):
        tokens.check_prompts(["x"] * 17)


def test_figure_has_one_trace_per_source_with_hover():
    space = tokens.token_space(_FakePipe(), PROMPTS, k=2, perplexity=5, max_iter=250)
    fig = tokens.figure(space.panels["a"])
    assert [t.name for t in fig.data] == ["encoder", "LLM", "fused"]
    assert "token:" in fig.data[0].hovertemplate and "norm:" in fig.data[0].hovertemplate
