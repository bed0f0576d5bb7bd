"""Tests of the text-feature probe (`benchmarks/text_probe.py`) on tiny synthetic features, not the real models:
the probes can fail, the attention probe reads what mean pooling loses, the validation split withholds its words, and
choices never look at the test split."""

import re

import numpy as np
import pytest
import torch

from mimir.world import parse_spec
from mimir.world.captions import load_tables
from tests.scripts import load_benchmark


tp = load_benchmark("text_probe")


def phrase_in(phrase: str, text: str) -> bool:
    """Whole-word occurrence of `phrase` (a template slot such as '{other}' never matches)."""
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


@pytest.fixture(autouse=True)
def one_thread():
    """These probes are tiny: a second thread only adds synchronisation (10x slower on a busy 2-core machine)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def marked_sequences(n: int, seed: int, T: int = 6, D: int = 12):
    """Sequences of noise tokens with two marker tokens A and B at random places. A carries +label * v, B carries
    -label * v, so the label cancels in the mean over tokens: only a probe that finds A can read it."""
    g = torch.Generator().manual_seed(seed)
    fixed = torch.Generator().manual_seed(1234)  # the same markers and direction v in every set
    m_a, m_b, v = (3 * torch.randn(D, generator=fixed) for _ in range(3))
    tokens = torch.randn(n, T, D, generator=g)  # (N, T, D)
    label = torch.randint(0, 2, (n,), generator=g)
    sign = (2 * label - 1).float()[:, None]  # (N, 1)
    where = torch.stack([torch.randperm(T, generator=g)[:2] for _ in range(n)])  # (N, 2)
    rows = torch.arange(n)
    tokens[rows, where[:, 0]] = m_a + sign * v
    tokens[rows, where[:, 1]] = m_b - sign * v
    return tokens, torch.ones(n, T, dtype=torch.bool), {"event": label.numpy()}


def test_attention_probe_reads_what_mean_pooling_loses():
    x_fit, m_fit, y_fit = marked_sequences(300, seed=0)
    x_test, m_test, y_test = marked_sequences(300, seed=1)
    mean = tp.fit_mean_probes(x_fit, m_fit, y_fit, C=0.1, seed=0)
    attn = tp.fit_attention_probes(x_fit, m_fit, y_fit, seed=0, steps=200)
    mean_acc = tp.accuracy(tp.predict_mean_probes(mean, x_test, m_test), y_test)["event"]["acc"]
    attn_acc = tp.accuracy(attn.predict(x_test, m_test), y_test)["event"]["acc"]
    assert mean_acc < 0.65, mean_acc  # chance: the label is not in the mean
    assert attn_acc > 0.9, attn_acc


def test_probes_fail_on_labels_the_features_do_not_carry():
    x_fit, m_fit, _ = marked_sequences(300, seed=0)
    x_test, m_test, _ = marked_sequences(300, seed=1)
    rng = np.random.default_rng(0)
    y_fit, y_test = {"event": rng.integers(0, 2, 300)}, {"event": rng.integers(0, 2, 300)}
    mean = tp.fit_mean_probes(x_fit, m_fit, y_fit, C=0.1, seed=0)
    attn = tp.fit_attention_probes(x_fit, m_fit, y_fit, seed=0, steps=200)
    assert tp.accuracy(tp.predict_mean_probes(mean, x_test, m_test), y_test)["event"]["acc"] < 0.6
    assert tp.accuracy(attn.predict(x_test, m_test), y_test)["event"]["acc"] < 0.6


def test_principal_axes_keep_the_high_variance_directions():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(500, 8, generator=g) * torch.tensor([1.0, 1, 1, 10, 1, 1, 5, 1])  # (n, D): axes 3 and 6 dominate
    axes = tp.principal_axes(x, 2)  # (D, 2)
    assert torch.allclose(axes.T @ axes, torch.eye(2), atol=1e-5)
    assert axes[:, 0].abs().argmax() == 3 and axes[:, 1].abs().argmax() == 6
    assert torch.equal(axes, tp.principal_axes(x, 2))
    assert torch.equal(tp.principal_axes(x, 8), torch.eye(8))


def test_attention_probe_is_seeded_and_ignores_padding():
    x, m, y = marked_sequences(100, seed=0)
    a = tp.fit_attention_probes(x, m, y, seed=3, steps=20, components=6)  # through a 6-axis projection
    b = tp.fit_attention_probes(x, m, y, seed=3, steps=20, components=6)
    assert torch.equal(a.model.queries, b.model.queries) and torch.equal(a.model.head, b.model.head)
    # two padded positions with wild values must not change a prediction
    x_pad = torch.cat([x, 100 * torch.randn(100, 2, x.shape[-1])], dim=1)  # (N, T + 2, D)
    m_pad = torch.cat([m, torch.zeros(100, 2, dtype=torch.bool)], dim=1)
    assert np.array_equal(a.predict(x, m)["event"], a.predict(x_pad, m_pad)["event"])


# ---- the validation split of the training wordings ----------------------------------------------------------------


def _strings(tables: dict) -> list[str]:
    out = []
    for name, table in tables.items():
        if name.startswith("_"):
            continue
        for entries in table.values() if isinstance(table, dict) else [table]:
            out += [x for e in entries for x in e.split("|")]
    return out


def test_split_withholds_words_from_every_fit_caption():
    tables = load_tables("train")
    fit, val, withheld = tp.split_tables(tables, seed=0)
    assert withheld["colors"] and withheld["templates"]
    fit_text = _strings(fit)
    checked = 0
    specs = tp.captioned_specs(1800, seed=5, tables=fit)
    for name, keys in withheld.items():
        for key, entries in keys.items():
            fit_entries = fit[name][key] if isinstance(fit[name], dict) else fit[name]
            val_entries = val[name][key] if isinstance(val[name], dict) else val[name]
            assert not set(entries) & set(fit_entries), (name, key)
            assert set(val_entries) == set(entries), (name, key)  # validation uses only the withheld wording
            if name == "templates":
                continue
            for phrase in {x for e in entries for x in e.split("|") if x}:
                if any(phrase_in(phrase, t) for t in fit_text):
                    continue  # also part of a kept entry ("over" in "over the clip"): cannot tell them apart
                checked += 1
                hits = [s.prompt for s in specs if phrase_in(phrase, s.prompt)]
                assert not hits, (phrase, hits[:3])
    assert checked >= 10
    # the plain vocabulary words stay in the fit part
    assert all(c in fit["colors"][c] for c in fit["colors"])
    assert "moving left" in fit["directions"]["left"] and "to the left of" in fit["relations"]["left_of"]


def test_split_is_seeded_and_caption_tables_restores_the_loader():
    tables = load_tables("train")
    assert tp.split_tables(tables, seed=1) == tp.split_tables(tables, seed=1)
    assert tp.split_tables(tables, seed=1)[2] != tp.split_tables(tables, seed=2)[2]
    import mimir.world.captions as captions

    original = captions.load_tables
    with pytest.raises(RuntimeError), tp.caption_tables({}):
        raise RuntimeError
    assert captions.load_tables is original
    a = [s.prompt for s in tp.captioned_specs(20, seed=0, tables=tables)]
    assert a == [s.prompt for s in tp.captioned_specs(20, seed=0, tables=tables)]


# ---- labels, choices, report --------------------------------------------------------------------------------------


def spatial(first: tuple[str, str], second: tuple[str, str], relation: str):
    objects = [{"shape": s, "color": c} for s, c in (first, second)]
    d = {"id": "t", "dimension": "spatial_relationship", "prompt": "-", "objects": objects, "relation": relation}
    return parse_spec(d)


def test_relation_label_does_not_depend_on_the_specs_object_order():
    # "a red circle to the left of a blue square", written with either object first in the spec
    a = spatial(("circle", "red"), ("square", "blue"), "left_of")
    b = spatial(("square", "blue"), ("circle", "red"), "right_of")
    assert tp.spec_labels(a)["relation"] == tp.spec_labels(b)["relation"] == "left_of"
    assert tp.spec_labels(a)["color"] is None  # two objects: which one is object 0 is not in the text
    labels = tp.label_arrays([a, b])
    assert labels["relation"].tolist() == [0, 0] and labels["count"].tolist() == [-1, -1]


def test_choices_look_at_validation_only():
    def row(probe: str, layer: int, val: float, test: float) -> dict:
        return {
            "source": "llm/query",
            "model": "llm",
            "kind": "query",
            "layer": layer,
            "probe": probe,
            "val": {"color": {"acc": val, "n": 10}},
            "test": {"color": {"acc": test, "n": 10}},
        }

    rows = []
    for probe in tp.PROBES:
        rows += [row(probe, 0, 0.9, 0.1), row(probe, 3, 0.5, 1.0), row(probe, 6, 0.9, 0.9)]
    chosen = tp.choose(rows)["llm/query"]["mean"]
    assert chosen["mean_layer"] == 0 and chosen["test_mean"] == 0.1  # ties go to the earlier layer
    assert chosen["per_attribute"]["color"] == {"layer": 0, "val": 0.9, "test": 0.1}
    rows += [
        dict(r, kind="instruction", source="llm/instruction", val={"color": {"acc": 0.2 + r["layer"] / 10}})
        for r in rows
    ]
    rec = tp.recommend_layers(rows, "llm", size=3)
    # query tokens peak at layer 0, instruction tokens at layer 6: a mix takes both, then the best over both kinds
    assert (rec["best_query"], rec["best_instruction"], rec["single"]) == (0, 6, 6)
    assert rec["mix"] == [0, 3, 6]


def test_write_section_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "RESULTS.md"
    path.write_text("# Results\n\n## Speed\n\nfast\n\n## Other\n\nkept\n")
    tp.write_section(f"{tp.SECTION}\n\nfirst\n", path)
    tp.write_section(f"{tp.SECTION}\n\nsecond\n", path)
    text = path.read_text()
    assert text.count(tp.SECTION) == 1 and "second" in text and "first" not in text
    assert text.startswith("# Results\n\n## Speed\n\nfast\n\n## Other\n\nkept\n")
    path.write_text(text.replace("## Other", f"{tp.SECTION}\n\nold\n\n## Other"))  # a section in the middle
    tp.write_section(f"{tp.SECTION}\n\nthird\n", path)
    assert "old" not in path.read_text() and "## Other\n\nkept" in path.read_text()


def test_llm_layers_include_the_last():
    assert tp.llm_layers(30, 3) == list(range(0, 31, 3))
    assert tp.llm_layers(18, 4) == [0, 4, 8, 12, 16, 18]
