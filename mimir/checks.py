"""How a check shows a refused value: never more than SHOWN_CHARS characters of it.

An API client can send any JSON value: a megabyte of trial id, an integer of 400 digits. An error message (and the
log line that repeats it) quotes the value so the sender sees what was refused, but never echoes a huge one whole.
"""

import math
from typing import Any


SHOWN_CHARS = 40  # of a refused value, in messages and logs (our choice)


def shown(value: Any) -> str:
    """`repr(value)`, cut to SHOWN_CHARS characters with its length when longer. A huge integer is described by its
    size: `repr` of one past 4300 digits raises (Python's int-to-text limit), and one of 400 digits says nothing."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 128:
        digits = math.floor(value.bit_length() * math.log10(2)) + 1  # within one of the true count
        return f"{'a negative' if value < 0 else 'an'} integer of about {digits} digits"
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}... ({len(text)} characters)"
