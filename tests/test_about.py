"""What the nano world says about itself (`mimir.world.about`): every word the note lists is one the reader reads."""

import re

import pytest

from mimir.world import about, vocab
from mimir.world.reader import known_words, parse_prompt


OUT_OF_WORLD = ("an eagle soaring over a snowy forest", "two dogs")


def _bullets(note: str) -> dict[str, list[str]]:
    """'- **shapes**: circle, square (or disc, ...)' -> {"shapes": ["circle", "square", "disc"]}."""
    out = {}
    for name, body in re.findall(r"^- \*\*(\w+)\*\*: (.+)$", note, flags=re.M):
        body = re.sub(r"^one to \w+ copies of one shape ", "", body)
        out[name] = [w.strip(" ()") for w in re.split(r", | \(or ", body) if w.strip(" ().") not in ("", "...")]
    return out


def test_world_summary_is_one_sentence_from_the_vocabulary():
    text = about.world_summary()
    assert text.endswith(".") and text.count(". ") == 0 and "\n" not in text
    assert f"{len(vocab.SHAPES)} shapes" in text and f"{len(vocab.COLORS)} colours" in text
    assert "scored exactly" in text or "score exactly" in text


@pytest.mark.parametrize("prompt", OUT_OF_WORLD)
def test_unplaced_note_lists_only_words_the_reader_reads(prompt):
    assert parse_prompt(prompt) is None
    note = about.unplaced_note(prompt)
    lists = _bullets(note)
    assert list(lists) == ["shapes", "colours", "counts", "relations", "motions", "events", "lighting"]
    assert set(vocab.SHAPES) < set(lists["shapes"]) and set(vocab.COLORS) < set(lists["colours"])  # + synonyms
    assert len(lists["counts"]) == vocab.MAX_COUNT - 1
    for name, values in (("relations", vocab.RELATIONS), ("motions", vocab.DIRECTIONS), ("events", vocab.EVENTS)):
        assert len(lists[name]) == len(values), name
    assert len(lists["lighting"]) == len(vocab.LIGHTINGS)
    # each listed word, put into a plain scene, is read back as what the list says it is
    for word in lists["shapes"]:
        assert parse_prompt(f"a red {word}") is not None, word
    for word in lists["colours"]:
        assert parse_prompt(f"a {word} circle") is not None, word
    for n, word in enumerate(lists["counts"], start=2):
        assert parse_prompt(f"{word} red circles").objects[0].count == n, word
    for word, relation in zip(lists["relations"], vocab.RELATIONS):
        assert parse_prompt(f"a red circle {word} a blue square").relation == relation, word
    for word, direction in zip(lists["motions"], vocab.DIRECTIONS):
        assert parse_prompt(f"a red circle {word}").motion[0].direction == direction, word
    for word, event in zip(lists["events"], vocab.EVENTS):
        assert parse_prompt(f"a red circle {word}").event.event == event, word
    for word, lighting in zip(lists["lighting"], vocab.LIGHTINGS):
        assert parse_prompt(f"a red circle, {word}").lighting == lighting, word
    example = re.search(r"^Try: \*(.+)\*$", note, flags=re.M)[1]
    assert parse_prompt(example) is not None
    assert about.world_summary() in note


def test_unplaced_note_names_the_words_it_knows():
    assert known_words("an eagle soaring over a snowy forest") == [("over", "above"), ("snowy", "white")]
    assert "*snowy* (white)" in about.unplaced_note("an eagle soaring over a snowy forest")
    assert known_words("a dragon") == [] and "Words of your prompt" not in about.unplaced_note("a dragon")


def test_unplaced_note_takes_an_example_the_reader_places():
    note = about.unplaced_note("two dogs", example="imagine an azure wedge and nothing more")
    assert note.endswith("Try: *imagine an azure wedge and nothing more*")
    with pytest.raises(ValueError, match="example='two cats'"):
        about.unplaced_note("two dogs", example="two cats")
