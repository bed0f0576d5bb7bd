"""What the nano world is, in words for a visitor: one sentence for a header, and a short note for a prompt the
reader (`mimir.world.reader`) cannot place.

Every word listed comes from the vocabulary (`mimir.world.vocab`) and the wording tables the reader knows
(`mimir.world.reader.reader_tables`), never from a list kept here, so the note cannot promise a word the reader
does not read.
"""

from mimir.world import vocab
from mimir.world.captions import _form, canonical_prompt
from mimir.world.reader import known_words, parse_prompt, reader_tables
from mimir.world.spec import parse_spec


# How many synonyms the note shows per line (ours: enough to hint that wording may vary, short enough to read).
SYNONYMS_SHOWN = 4


def world_summary() -> str:
    """One sentence saying what the nano preset is."""
    return (
        f"The nano preset is a tiny world of {len(vocab.SHAPES)} shapes in {len(vocab.COLORS)} colours, small enough "
        "that NanoBench can score exactly whether a video shows what its prompt says."
    )


def _first(table: str, value: str) -> str:
    """The first training entry of `table` for `value`, singular ("moves left|move left" -> "moves left")."""
    return _form(reader_tables()[0][table][value][0], False)


def _synonyms(table: str, values: tuple[str, ...] | list[str]) -> list[str]:
    """Up to SYNONYMS_SHOWN other words for the values, one per value in turn: the first non-plain entry of any
    reader table (training first)."""
    words: list[str] = []
    for value in values:
        entries = [_form(e, False) for t in reader_tables() for e in t.get(table, {}).get(value, [])]
        words += [w for w in entries if w not in values][:1]
    return words[:SYNONYMS_SHOWN]


def _meaning(m: str) -> str:
    return f"{m} copies" if m.isdigit() else m.replace("_", " ")


def default_example() -> str:
    """A prompt to try, built from the vocabulary's first words: "a red circle to the left of a blue square"."""
    shapes, colors = vocab.SHAPES, list(vocab.COLORS)
    spec = parse_spec(
        {
            "id": "example",
            "dimension": "spatial_relationship",
            "prompt": "-",
            "objects": [{"shape": shapes[0], "color": colors[0]}, {"shape": shapes[1], "color": colors[2]}],
            "relation": vocab.RELATIONS[0],
        }
    )
    return canonical_prompt(spec)


def unplaced_note(prompt: str, example: str | None = None) -> str:
    """Markdown for a prompt the reader cannot place (`parse_prompt(prompt) is None`): what the nano world
    contains, the words of `prompt` it does know, a few words it understands, and one prompt to try (`example`,
    else `default_example()`; it must be one the reader places)."""
    example = example if example is not None else default_example()
    if parse_prompt(example) is None:
        raise ValueError(f"example={example!r}: the reader cannot place it, so it cannot show what the world holds")
    count_words = [_first("counts", str(n)) for n in range(2, vocab.MAX_COUNT + 1)]
    colors = list(vocab.COLORS)
    lines = [
        "**This prompt is outside the nano world**, so NanoBench has no verdict for it. " + world_summary(),
        "",
        "The world holds:",
        "",
        f"- **shapes**: {', '.join(vocab.SHAPES)} (or {', '.join(_synonyms('shapes', vocab.SHAPES))}, ...)",
        f"- **colours**: {', '.join(colors)} (or {', '.join(_synonyms('colors', colors))}, ...)",
        f"- **counts**: one to {count_words[-1]} copies of one shape ({', '.join(count_words)})",
        f"- **relations**: {', '.join(_first('relations', r) for r in vocab.RELATIONS)}",
        f"- **motions**: {', '.join(_first('directions', d) for d in vocab.DIRECTIONS)}",
        f"- **events**: {', '.join(_first('events', e) for e in vocab.EVENTS)}",
        f"- **lighting**: {', '.join(_first('lighting', lg) for lg in vocab.LIGHTINGS)}",
        "",
    ]
    known = known_words(prompt)
    if known:
        words = ", ".join(f"*{w}*" if w == m else f"*{w}* ({_meaning(m)})" for w, m in known)
        lines += [f"Words of your prompt that the world knows: {words}.", ""]
    lines.append(f"Try: *{example}*")
    return "\n".join(lines)
