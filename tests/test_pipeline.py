"""MimirPipeline on tiny seeded components: equality with CogVideoXPipeline, determinism, fused lengths, bad input."""

import logging

import numpy as np
import pytest
import torch
from diffusers import CogVideoXPipeline

from mimir.generation import GenerationSettings
from mimir.pipeline import MimirPipeline
from mimir.text_models import load_smollm2_tokenizer
from mimir.token_fuser import TokenFuser

from .tiny import ENCODER_DIM, LLM_DIM, SEQ, tiny_llm, tiny_text_encoder, tiny_video_models


CALL = dict(num_frames=9, height=16, width=16, num_inference_steps=2, guidance_scale=3.0, output_type="np")


@pytest.fixture(scope="module")
def parts():
    tokenizer, text_encoder = tiny_text_encoder()
    llm_tokenizer = load_smollm2_tokenizer()
    return tokenizer, text_encoder, llm_tokenizer, tiny_llm(llm_tokenizer)


def make_pipe(parts, fusion_type="mimir", video: dict | None = None, max_num_frames: int = 17, **fuser_kwargs):
    """A tiny MimirPipeline; `video`: tiny_video_models' arguments (the DiT's sample size sets the sizes it takes)."""
    tokenizer, text_encoder, llm_tokenizer, llm = parts
    transformer, vae, scheduler = tiny_video_models(**(video or {}))
    torch.manual_seed(0)
    fuser = TokenFuser(fusion_type=fusion_type, encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM, **fuser_kwargs)
    with_llm = fusion_type != "t5_only"
    return MimirPipeline(
        tokenizer,
        text_encoder,
        vae,
        transformer,
        scheduler,
        fuser,
        llm_tokenizer=llm_tokenizer if with_llm else None,
        llm=llm if with_llm else None,
        max_sequence_length=SEQ,
        max_num_frames=max_num_frames,
    )


def test_t5_only_equals_cogvideox_pipeline(parts):
    pipe = make_pipe(parts, "t5_only")
    reference = CogVideoXPipeline(pipe.tokenizer, pipe.text_encoder, pipe.vae, pipe.transformer, pipe.scheduler)
    prompt = "two red circles to the left of a blue square"
    ours = pipe(prompt, generator=torch.Generator().manual_seed(7), **CALL).frames
    theirs = reference(prompt, generator=torch.Generator().manual_seed(7), max_sequence_length=SEQ, **CALL).frames
    assert ours.shape == (1, 9, 16, 16, 3)
    np.testing.assert_array_equal(ours, theirs)
    other = reference(prompt, generator=torch.Generator().manual_seed(8), max_sequence_length=SEQ, **CALL).frames
    assert not np.array_equal(ours, other)


def test_mimir_is_deterministic_and_seed_sensitive(parts):
    pipe = make_pipe(parts)
    a = pipe("a yellow triangle", generator=torch.Generator().manual_seed(3), **CALL).frames
    b = pipe("a yellow triangle", generator=torch.Generator().manual_seed(3), **CALL).frames
    c = pipe("a yellow triangle", generator=torch.Generator().manual_seed(4), **CALL).frames
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("fusion_type,k", [("mimir", 4), ("zeroconv", 0), ("norm_ss", 4), ("t5_only", 0)])
def test_condition_and_negative_condition_have_the_fused_length(parts, fusion_type, k):
    pipe = make_pipe(parts, fusion_type)
    seen = {}

    def grab(p, i, t, kwargs):
        seen[i] = kwargs["prompt_embeds"].shape
        return {}

    pipe(
        "a red circle",
        negative_prompt="blurry",
        generator=torch.Generator().manual_seed(0),
        callback_on_step_end=grab,
        callback_on_step_end_tensor_inputs=["prompt_embeds"],
        **CALL,
    )
    # CFG concatenates negative and positive: (2B, n + k, D)
    assert seen[0] == (2, SEQ + k, ENCODER_DIM)
    positive, negative = pipe.encode_prompt("a red circle", "blurry")
    assert positive.shape == negative.shape == (1, SEQ + k, ENCODER_DIM)
    assert not torch.equal(positive, negative)


def test_mimir_at_init_equals_cogvideox_on_the_first_n_tokens(parts):
    mimir, base = make_pipe(parts, "mimir"), make_pipe(parts, "t5_only")
    fused, _ = mimir.encode_prompt("three green squares", do_classifier_free_guidance=False)
    plain, _ = base.encode_prompt("three green squares", do_classifier_free_guidance=False)
    assert torch.equal(fused[:, :SEQ], plain)
    assert fused[:, SEQ:].abs().max() == 0  # zero-initialised stabilizer tokens


def test_prompt_cache_encodes_once(parts):
    pipe = make_pipe(parts)
    calls = []
    handle = pipe.text_encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        pipe.encode_tokens(["a white cross"])
        pipe.encode_tokens(["a white cross"])
    finally:
        handle.remove()
    assert len(calls) == 1


def test_answer_tokens_are_seeded_and_volatile(parts):
    pipe = make_pipe(parts)

    def sample(seed: int):
        generator = torch.Generator().manual_seed(seed)
        encoding, _ = pipe.encode_tokens(["a cyan circle"], llm_answer_tokens=True, generator=generator)
        return encoding.llm

    a, b, c = sample(1), sample(1), sample(2)
    assert a.answers.texts == b.answers.texts and torch.equal(a.combined.embeds, b.combined.embeds)
    assert a.answers.texts != c.answers.texts
    # the query tokens do not change between samples; only the answer part does
    assert torch.equal(a.query.embeds, c.query.embeds)
    assert a.combined.mask.sum() > a.query.mask.sum()


def test_long_prompt_is_truncated_with_a_warning(parts, caplog):
    pipe = make_pipe(parts, "t5_only")
    long_prompt = " ".join(["a red circle to the left of a blue square"] * 10)
    with caplog.at_level(logging.WARNING):
        encoding, _ = pipe.encode_tokens([long_prompt])
    assert "truncated" in caplog.text
    assert encoding.encoder.embeds.shape[1] == SEQ


@pytest.mark.parametrize(
    "override,message",
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"num_frames": 10}, "num_frames=10"),
        ({"num_frames": 25}, "num_frames=25"),
        ({"height": 20}, "height=20"),
        ({"width": 4096}, "width=4096"),
        ({"num_inference_steps": 0}, "num_inference_steps=0"),
        ({"guidance_scale": -1.0}, "guidance_scale=-1.0"),
        ({"guidance_scale": float("nan")}, "guidance_scale=nan"),
        ({"max_sequence_length": 999}, "max_sequence_length=999"),
        ({"llm_branch": "half"}, "llm_branch"),
        ({"num_videos_per_prompt": 2}, "num_videos_per_prompt=2"),
        # over n tokens, under the character limit (16 per token): the token count is what refuses them
        ({"prompt": "a red circle " * 6}, f"tokens long; this model reads at most {SEQ}"),
        ({"negative_prompt": "blurry " * 20}, f"negative_prompt is .* tokens long; this model reads at most {SEQ}"),
        ({"prompt": "a red circle " * 20}, f"prompt is 260 characters long; this model reads at most {16 * SEQ} char"),
    ],
)
def test_bad_call_arguments_name_value_and_rule(parts, override, message):
    pipe = make_pipe(parts)
    kwargs = {**CALL, "prompt": "a red circle", **override}
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        pipe(generator=torch.Generator().manual_seed(0), **kwargs)


def test_answer_tokens_without_an_llm_branch_are_refused_before_encoding(parts):
    pipe = make_pipe(parts, "t5_only")
    pipe.encode_prompt = None  # reaching the encoding step would raise TypeError, not the rule
    with pytest.raises(ValueError, match="llm_answer_tokens=True needs the LLM branch"):
        pipe("a red circle", llm_answer_tokens=True, **CALL)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "7"])
def test_bad_seed(seed):
    with pytest.raises(ValueError, match="seed"):
        GenerationSettings(prompt="a red circle", seed=seed).validate()


def test_batched_answers_are_zero_padded_with_masks(parts):
    pipe = make_pipe(parts)
    prompts = ["a cyan circle", "two red squares to the left of a green cross"]
    encoding, _ = pipe.encode_tokens(prompts, llm_answer_tokens=True, generator=torch.Generator().manual_seed(5))
    answers = encoding.llm.answers.tokens  # (B, a, L, D_llm)
    a = answers.embeds.shape[1]
    lengths = answers.mask.sum(dim=1).tolist()
    assert answers.embeds.shape == (2, a, 1, LLM_DIM) and max(lengths) == a
    assert [len(s) for s in answers.token_strs] == lengths
    for i, n in enumerate(lengths):
        assert answers.embeds[i, n:].abs().sum() == 0
        assert answers.embeds[i, :n].abs().sum() > 0


def test_empty_prompt_never_conditions_on_the_chat_template(parts):
    """The empty text (CFG's negative prompt, caption dropout) gets no LLM tokens and zero instruction tokens; the
    system prompt of the template is never encoded as if it were a prompt."""
    pipe = make_pipe(parts)
    encoding, _ = pipe.encode_tokens(["a red circle", "", "   "])
    llm = encoding.llm
    assert llm.combined.mask[0].sum() > 0
    assert llm.combined.mask[1:].sum() == 0 and llm.combined.embeds[1:].abs().sum() == 0
    assert llm.instruction_embeds[1:].abs().sum() == 0 and llm.instruction_embeds[0].abs().sum() > 0
    # the encoder branch still runs on the empty text, as CogVideoX does for its negative prompt
    assert encoding.encoder.mask[1].sum() > 0
    # and answers are not sampled for it
    generator = torch.Generator().manual_seed(1)
    encoding, _ = pipe.encode_tokens(["a red circle", ""], llm_answer_tokens=True, generator=generator)
    answers = encoding.llm.answers
    assert answers.texts[1] == "" and answers.tokens.mask[1].sum() == 0


def test_hidden_layers_travel_side_by_side(parts):
    """Several LLM layers arrive as (B, n, L, D_llm); the first and the last differ (they are not copies)."""
    from mimir.text_encoding import LLMBranchConfig

    tokenizer, text_encoder, llm_tokenizer, llm = parts
    transformer, vae, scheduler = tiny_video_models()
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM, num_llm_layers=2)
    branch = LLMBranchConfig.from_file(hidden_layers=(1, -1))
    pipe = MimirPipeline(
        tokenizer, text_encoder, vae, transformer, scheduler, fuser, llm_tokenizer, llm, llm_branch=branch,
        max_sequence_length=SEQ, max_num_frames=17,
    )  # fmt: skip
    llm = pipe.encode_tokens(["two red circles"])[0].llm
    assert llm.combined.embeds.shape == (1, SEQ, 2, LLM_DIM) and llm.instruction_embeds.shape == (1, 4, 2, LLM_DIM)
    m = llm.combined.mask[0].bool()
    assert not torch.allclose(llm.combined.embeds[0, m, 0], llm.combined.embeds[0, m, 1])
    frames = pipe("two red circles", generator=torch.Generator().manual_seed(0), **CALL).frames
    assert frames.shape == (1, 9, 16, 16, 3)
    with pytest.raises(ValueError, match=r"2 hidden layers \(1, -1\).*num_llm_layers=1"):
        MimirPipeline(
            tokenizer, text_encoder, vae, transformer, scheduler, TokenFuser(encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM),
            llm_tokenizer, llm, llm_branch=branch, max_sequence_length=SEQ,
        )  # fmt: skip


def test_llm_branch_off_changes_a_trained_mimir_only_through_the_llm(parts):
    pipe = make_pipe(parts)
    with torch.no_grad():
        for p in pipe.token_fuser.parameters():
            p.normal_(std=0.2)
    run = lambda **kw: pipe("a red circle", generator=torch.Generator().manual_seed(3), **CALL, **kw).frames  # noqa: E731
    on, off = run(), run(llm_branch="off")
    assert not np.array_equal(on, off)
    np.testing.assert_array_equal(on, run(llm_branch="on"))


def test_overlapping_calls_share_no_state(parts):
    """Each call encodes its own prompt: nothing of one call is left on the pipeline for the next."""
    pipe = make_pipe(parts)
    generator = torch.Generator().manual_seed(0)
    pipe("a red circle", generator=generator, llm_answer_tokens=True, **CALL)
    # (diffusers' parent keeps its own loop counters such as `_guidance_scale`; ours keeps nothing of a call)
    assert not any(v is generator or v is True for k, v in vars(pipe).items() if not k.startswith("_guid"))
    assert not {"_llm_answer_tokens", "_answer_generator"} & set(vars(pipe))
