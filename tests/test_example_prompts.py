"""The app's example prompts and the default study list: written by benchmarks/make_examples.py's rule, half training
and half unseen wordings in the study, every prompt placed by the reader and within the nano prompt limit."""

from pathlib import Path

import pytest

from mimir.presets import NANO_MAX_SEQUENCE_LENGTH
from mimir.study.trials import load_prompt_file, load_study_prompts
from mimir.text_models import load_smollm2_tokenizer
from mimir.world.reader import parse_prompt

from .scripts import load_benchmark
from .test_pipeline import make_pipe
from .test_reader import meaning, suite_lines
from .tiny import tiny_llm, tiny_text_encoder


EXAMPLES = Path(__file__).resolve().parents[1] / "prompts" / "examples"


@pytest.fixture(scope="module")
def make_examples():
    return load_benchmark("make_examples")


def all_prompts() -> list[str]:
    examples = [p for path in sorted(EXAMPLES.glob("*.txt")) for p in load_prompt_file(path)]
    return examples + load_study_prompts()


def test_files_are_what_the_rule_writes(make_examples):
    """Nobody hand-picked (or hand-edited) them: regenerating by the stated rule and seed gives the same bytes."""
    assert make_examples.main(type("Args", (), {"seed": make_examples.SEED, "check": True})()) == 0
    for path in (make_examples.EXAMPLES, make_examples.STUDY):
        assert f"seed {make_examples.SEED}" in path.read_text(encoding="utf-8")  # the rule is stated in the file


def test_unseen_examples_are_heldout_lines_one_per_dimension(make_examples):
    chosen = make_examples.pick_examples(make_examples.SEED)
    assert load_prompt_file(make_examples.EXAMPLES) == [s.prompt for s in chosen]
    heldout = {s.prompt for s in suite_lines("heldout")}
    assert all(s.prompt in heldout for s in chosen)
    assert [s.dimension for s in chosen] == list(make_examples.DIMENSIONS)
    for s in chosen:
        assert meaning(parse_prompt(s.prompt)) == meaning(s), s.prompt


def test_study_is_half_training_half_unseen(make_examples):
    chosen = make_examples.pick_study(make_examples.SEED)
    prompts = load_study_prompts()
    assert prompts == [s.prompt for s in chosen] and len(set(prompts)) == len(prompts)
    train, heldout = {s.prompt for s in suite_lines("train")}, {s.prompt for s in suite_lines("heldout")}
    assert sum(p in train for p in prompts) == sum(p in heldout for p in prompts) == len(prompts) // 2
    for s in chosen:
        assert meaning(parse_prompt(s.prompt)) == meaning(s), s.prompt


def test_every_example_and_study_prompt_is_placed():
    for prompt in all_prompts():
        assert parse_prompt(prompt) is not None, prompt


def test_every_example_and_study_prompt_fits_the_nano_limit():
    """The nano pipeline's own count (MiniLM tokens with special tokens, SmolLM2 tokens of the escaped text: the
    larger), with the real tokenizers; a prompt over the limit would be refused, never cut."""
    tokenizer, text_encoder = tiny_text_encoder()
    llm_tokenizer = load_smollm2_tokenizer()
    pipe = make_pipe((tokenizer, text_encoder, llm_tokenizer, tiny_llm(llm_tokenizer)))
    counts = {p: pipe.prompt_token_count(p) for p in all_prompts()}
    assert max(counts.values()) <= NANO_MAX_SEQUENCE_LENGTH, max(counts.items(), key=lambda kv: kv[1])
