"""Tests of the text probe on world v2 (`benchmarks/text_probe.py --world v2`, facts in `mimir/bench/text_facts.py`):
the facts follow the order in which the real captions name the objects, a fact the text leaves open stays undefined,
choices look at validation only, and the whole probe runs end to end with tiny seeded text models in seconds."""

import json
import re

import numpy as np
import pytest
import torch

from mimir.bench import text_facts
from mimir.text_models import load_smollm2_tokenizer
from mimir.world.v2 import load_suite, parse_spec, vocab
from mimir.world.v2.captions import load_tables
from mimir.world.v2.sampler import heldout_compositions
from tests.scripts import load_benchmark
from tests.tiny import tiny_llm, tiny_text_encoder


tp = load_benchmark("text_probe")
SUITES = tp.V2_SUITES


@pytest.fixture(autouse=True)
def one_thread():
    """These probes are tiny: a second thread only adds synchronisation on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _first(words: list[str], text: str) -> int:
    """Where the first of `words` (whole words) occurs in `text`, or a large number."""
    hits = [m.start() for w in words for m in re.finditer(rf"(?<![\w-]){re.escape(w)}(?![\w-])", text)]
    return min(hits, default=10**6)


@pytest.mark.parametrize("split", ["train", "heldout_compositions"])
@pytest.mark.parametrize(
    "category", ["consistent_attribute_binding", "motion_binding", "action_binding", "object_interactions"]
)
def test_slots_follow_the_order_in_which_real_captions_name_the_objects(split, category):
    # In these categories the objects of a scene differ in colour, so the first colour word of each object in the
    # caption marks where the caption names it. Interactions name the agent first whatever the spec's order.
    colors = load_tables("train")["colors"]
    specs = load_suite(SUITES / split / f"{category}.jsonl")
    swapped = 0
    for spec in specs:
        order = text_facts.mention_order(spec)
        where = [_first(colors[spec.objects[i].color], spec.prompt) for i in order]
        assert where == sorted(where) and where[-1] < 10**6, (spec.prompt, order, where)
        facts = text_facts.spec_facts(spec)
        assert [facts[f"color@{k}"] for k in range(min(3, len(order)))] == [spec.objects[i].color for i in order[:3]]
        swapped += order[:2] != [0, 1]
    # the suites hold interactions whose agent is not object 0: the test would catch a slot order that ignores roles
    assert (swapped > 0) == (category == "object_interactions")


def spec(d: dict):
    return parse_spec({"id": "t-s1", "prompt": "-", **d})


def test_facts_the_text_leaves_open_stay_undefined():
    # "five circles, none of them red": only the shape and the total are stated
    negation = spec(
        {
            "dimension": "generative_numeracy",
            "objects": [
                {"shape": "circle", "color": "blue", "count": 3, "size": "small"},
                {"shape": "circle", "color": "green", "count": 2, "size": "small"},
            ],
            "exclude": {"shape": "circle", "color": "red"},
            "language": "negation",
        }
    )
    assert text_facts.spec_facts(negation) == {"shape@0": "circle", "shape@1": "circle", "total": "5"}
    # motion captions name no size; a still object is a fact ("stays still")
    motion = spec(
        {
            "dimension": "motion_binding",
            "objects": [
                {"shape": "star", "color": "red", "size": "small", "motion": "up"},
                {"shape": "heart", "color": "blue"},
                {"shape": "cross", "color": "white", "motion": "left"},
            ],
        }
    )
    facts = text_facts.spec_facts(motion)
    assert [facts[f"motion@{i}"] for i in range(3)] == ["up", "still", "left"]
    assert not any(f.startswith("size") for f in facts)
    # a change: the end colour, and the size only where it changes
    dynamic = spec(
        {
            "dimension": "dynamic_attribute_binding",
            "objects": [
                {"shape": "square", "color": "red", "color_end": "blue"},
                {"shape": "circle", "color": "green", "size": "small", "size_end": "large"},
            ],
        }
    )
    facts = text_facts.spec_facts(dynamic)
    assert (facts["color_end@0"], facts["size_change@0"], facts["color_end@1"], facts["size_change@1"]) == (
        "blue",
        "none",
        "none",
        "grow",
    )
    assert "size@0" not in facts and facts["size@1"] == "small"
    labels = text_facts.fact_arrays([negation, motion, dynamic])
    assert labels["total"].tolist() == [4, -1, -1] and labels["color@0"].tolist()[0] == -1
    assert set(text_facts.category_facts("generative_numeracy")) >= {"count@0", "total", "color@2"}


def test_every_suite_line_states_the_facts_of_its_category():
    for split in ("train", "heldout_compositions", "precise"):
        for category in vocab.CATEGORIES:
            allowed = set(text_facts.category_facts(category))
            for s in load_suite(SUITES / split / f"{category}.jsonl")[:30]:
                facts = text_facts.spec_facts(s)
                assert facts and set(facts) <= allowed, (s.id, set(facts) - allowed)


def _row(probe: str, layer: int, val: float, test: float) -> dict:
    cat = lambda x: {"category": {"motion_binding": x, "all": x}}  # noqa: E731
    means = {"val": cat(val), "precise": cat(test)}
    return {"source": "llm/query", "probe": probe, "layer": layer, "means": means, "scores": {}}


def test_v2_choices_look_at_validation_only():
    rows = [_row("mean", 0, 0.9, 0.1), _row("attn", 3, 0.5, 1.0), _row("mean", 6, 0.9, 0.9), _row("attn", 0, 0.9, 0)]
    chosen = tp.choose_v2(rows, ("precise",))["llm/query"]
    # best validation; ties go to the mean probe, then the earlier layer; the test split never decides
    assert chosen["per_category"]["motion_binding"] == {"probe": "mean", "layer": 0, "val": 0.9, "precise": 0.1}
    assert (chosen["overall"]["probe"], chosen["overall"]["layer"]) == ("mean", 0)


def test_group_scores_per_category_and_the_majority_baseline():
    labels = {"color@0": np.array([0, 1, 1, -1]), "total": np.array([-1, -1, 2, 3])}
    pred = {"color@0": np.array([0, 0, 1, 5]), "total": np.array([0, 0, 2, 0])}
    groups = np.array(["a", "a", "b", "b"])
    s = tp.group_scores(pred, labels, groups)
    assert s == {
        "a": {"color@0": {"acc": 0.5, "n": 2}},
        "b": {"color@0": {"acc": 1.0, "n": 1}, "total": {"acc": 0.5, "n": 2}},
    }
    assert tp.group_means(s) == {"a": 0.5, "b": 0.75, "all": 0.625}
    base = tp.majority_predictions(labels, 3)
    assert base["color@0"].tolist() == [1, 1, 1] and base["total"].tolist() == [2, 2, 2]


def test_the_v2_probe_runs_end_to_end_with_tiny_text_models(tmp_path):
    llm_tokenizer = load_smollm2_tokenizer()
    loaders = {"minilm": tiny_text_encoder, "smollm2": lambda: (llm_tokenizer, tiny_llm(llm_tokenizer))}
    argv = ["--world", "v2", "--fit-per-category", "8", "--val-per-category", "3", "--test-per-suite", "2"]
    argv += ["--steps", "5", "--components", "8", "--layer-step", "1", "--cache-dir", str(tmp_path / "cache")]
    argv += ["--results-json", str(tmp_path / "v2.json"), "--no-markdown", "--max-tokens", "48"]
    args = tp.parse_args(argv)
    assert (args.layer_step, args.llm_kinds, args.test_splits) == (1, ["query"], list(tp.V2_TEST_SPLITS))
    result = tp.main_v2(args, loaders=loaders, num_layers={"smollm2": 2})
    assert result["data"]["prompts"]["fit"] == 8 * len(vocab.CATEGORIES)
    assert result["data"]["prompts"]["precise"] == 2 * len(vocab.CATEGORIES)
    assert json.loads((tmp_path / "v2.json").read_text())["chosen_on_validation"].keys() == {"minilm", "smollm2/query"}
    chosen = result["chosen_on_validation"]
    assert set(chosen) == {"minilm", "smollm2/query"}
    assert set(chosen["smollm2/query"]["per_category"]) == set(vocab.CATEGORIES)
    assert {r["layer"] for r in result["results"] if r["model"] == "smollm2"} == {0, 1, 2}
    for r in result["results"]:
        for split in ("val", *tp.V2_TEST_SPLITS):
            assert set(r["means"][split]["category"]) == {*vocab.CATEGORIES, "all"}
            assert all(0 <= m <= 1 for m in r["means"][split]["category"].values())
    assert set(result["baseline_majority"]["means"]["precise"]["language"]) <= {*vocab.LANGUAGE, "none", "all"}
    section = tp.markdown_section_v2(result)
    assert section.startswith(tp.SECTION_V2) and "mean over categories" in section
    # the features are cached: a second run computes none and gives the same choices
    again = tp.main_v2(args, loaders=loaders, num_layers={"smollm2": 2})
    assert all(all(t["cached"].values()) for m, t in again["timing"].items() if m != "total_s")
    assert again["chosen_on_validation"]["minilm"]["per_category"] == chosen["minilm"]["per_category"]


def test_v1_defaults_are_unchanged():
    args = tp.parse_args([])
    assert (args.world, args.layer_step, args.max_tokens) == ("v1", 3, tp.NANO_MAX_SEQUENCE_LENGTH)
    args = tp.parse_args(["--world", "v2"])
    assert (args.layer_step, args.max_tokens) == (6, tp.NANO_V2_MAX_SEQUENCE_LENGTH) == (6, 64)


def test_heldout_facts_are_the_facts_of_the_heldout_composition():
    # a red star (held-out pair) pushes a green circle: its colour, its shape and the interaction are held out
    push = spec(
        {
            "dimension": "object_interactions",
            "objects": [{"shape": "circle", "color": "green"}, {"shape": "star", "color": "red"}],
            "interaction": {"kind": "push", "objects": [1, 0], "direction": "left"},
        }
    )
    assert text_facts.heldout_facts(push) == {"color@0", "shape@0", "interaction"}
    labels = text_facts.fact_arrays([push], only_heldout=True)
    assert {f for f, y in labels.items() if y[0] >= 0} == {"color@0", "shape@0", "interaction"}
    # every held-out-composition suite line whose composition has a slot holds at least one held-out fact, and no
    # training suite line holds any
    for category in vocab.CATEGORIES:
        for s in load_suite(SUITES / "heldout_compositions" / f"{category}.jsonl"):
            kinds = {c.partition(":")[0] for c in heldout_compositions(s)}
            if kinds - {"objects", "count"} and len(s.objects) <= text_facts.SLOTS:  # a fourth object has no slot
                assert text_facts.heldout_facts(s), (s.id, heldout_compositions(s))
        assert not any(text_facts.heldout_facts(s) for s in load_suite(SUITES / "train" / f"{category}.jsonl"))
