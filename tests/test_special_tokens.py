"""Special tokens typed in a prompt stay text in both branches (issue 22, failure 7): "[SEP]", "[CLS]", "[MASK]",
"[PAD]", "[UNK]" in MiniLM's encoder branch as "<|im_start|>" in SmolLM2's LLM branch. The strings come from each
tokenizer's own `all_special_tokens`; the real MiniLM and SmolLM2 tokenizers, a tiny seeded model behind them."""

import pytest

from mimir.text_encoding import escape_special_tokens
from mimir.text_models import load_smollm2_tokenizer

from .test_pipeline import make_pipe
from .tiny import tiny_llm, tiny_text_encoder


@pytest.fixture(scope="module")
def pipe():
    tokenizer, text_encoder = tiny_text_encoder()  # the real MiniLM tokenizer
    llm_tokenizer = load_smollm2_tokenizer()
    return make_pipe((tokenizer, text_encoder, llm_tokenizer, tiny_llm(llm_tokenizer)))


def typed_specials(tokenizer) -> str:
    return "a red circle " + " ".join(tokenizer.all_special_tokens) + " " + "".join(tokenizer.all_special_tokens)


def test_minilm_reads_typed_special_tokens_as_real_ones_without_the_escape(pipe):
    """What the escape guards against: the tokenizer alone turns "[SEP]" into the separator id."""
    tok = pipe.tokenizer
    assert set(tok.all_special_tokens) >= {"[SEP]", "[CLS]", "[MASK]", "[PAD]", "[UNK]"}
    ids = tok("a [SEP] b", add_special_tokens=False).input_ids
    assert tok.sep_token_id in ids


def test_the_encoder_branch_sees_no_typed_special_token(pipe):
    tok = pipe.tokenizer
    # Within the tiny pipeline's n = 16 encoder tokens: every special string of MiniLM, in two prompts.
    prompts = ["a [SEP] b [MASK]", "[CLS][PAD][UNK]"]
    encoding = pipe.prompt_encoder.encode(prompts, with_llm=True)
    for strs in encoding.encoder.token_strs:  # the real (unmasked) tokens of each prompt
        ids = tok.convert_tokens_to_ids(strs)
        # The tokenizer's own framing, and nothing special between: [CLS] ... [SEP]
        assert ids[0] == tok.cls_token_id and ids[-1] == tok.sep_token_id
        assert not set(ids[1:-1]) & set(tok.all_special_ids), strs
    assert {"sep", "mask"} <= set(encoding.encoder.token_strs[0])  # the typed words are still there, as text


def test_the_llm_branch_sees_no_typed_special_token(pipe):
    tok = pipe.llm_tokenizer
    encoding = pipe.prompt_encoder.encode([typed_specials(tok)], with_llm=True)
    [strs] = encoding.llm.query.token_strs  # the prompt's own tokens in the LLM branch
    assert not set(tok.convert_tokens_to_ids(strs)) & set(tok.all_special_ids), strs


@pytest.mark.parametrize("branch", ["tokenizer", "llm_tokenizer"])
def test_every_special_token_of_each_tokenizer_is_broken(pipe, branch):
    tok = getattr(pipe, branch)
    for special in tok.all_special_tokens:
        ids = tok(escape_special_tokens(tok, f"x {special} y"), add_special_tokens=False).input_ids
        assert not set(ids) & set(tok.all_special_ids), special


def test_the_token_count_is_of_the_text_each_branch_reads(pipe):
    """The length check counts "[SEP]" as the three text tokens the encoder branch reads ([ sep ]), not one."""
    parts = (pipe.tokenizer, pipe.text_encoder, None, None)
    encoder_only = make_pipe(parts, "t5_only")  # no LLM branch: the count is the encoder branch's alone
    assert encoder_only.prompt_token_count("[SEP]") == encoder_only.prompt_token_count("[ sep ]") == 5
    assert escape_special_tokens(pipe.tokenizer, "a red circle") == "a red circle"  # ordinary prompts untouched
