"""Raw API values and who sent them.

An API client can send any JSON value for any argument: `true` for a seed, `10**400`, NaN, a list for a prompt, a
lone surrogate, a megabyte of trial id. These checks run on the raw value before anything else and refuse with a
ValueError that names the parameter, shows the value (shortened: a huge value is never echoed whole) and the rule.
The model rules proper (ranges, prompt lengths) live in the pipeline's `check_inputs`.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mimir.checks import shown


TRIAL_ID = re.compile(r"[0-9a-f]{16}")  # uuid4().hex[:16], as `TrialFactory` makes them


class Refused(ValueError):
    """A raw value refused: `name` of the parameter and the `reason`, which quotes the value (shortened)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"{name}: {reason}")
        self.name, self.reason = name, reason


def check_number(name: str, payload: Any, whole: bool) -> int | float:
    """A JSON number, finite, representable as a float, and (`whole`) sent as an integer. Gradio would pass `true`,
    "abc" or NaN on, and a float seed would be rounded somewhere down the line."""
    if isinstance(payload, bool) or not isinstance(payload, (int, float)):
        raise Refused(name, f"{shown(payload)} is not a number")
    if isinstance(payload, int):
        if payload.bit_length() > 1023:  # float(payload) would raise OverflowError in every check below
            raise Refused(name, f"{shown(payload)} is far outside the allowed range")
    elif not math.isfinite(payload):
        raise Refused(name, f"{shown(payload)} is not a finite number")
    if whole and not isinstance(payload, int):
        raise Refused(name, f"{name}={shown(payload)} must be a whole number, sent as an integer")
    return payload


def check_text(name: str, payload: Any) -> str:
    """Text only: a JSON list, a number or null is refused, not turned into its string; so is a lone surrogate,
    which no file or tokenizer can encode."""
    if not isinstance(payload, str):
        raise Refused(name, f"{shown(payload)} is not text")
    try:
        payload.encode("utf-8")
    except UnicodeEncodeError as err:
        raise Refused(name, f"character {err.start} is a lone surrogate, not text") from None
    return payload


def check_choice(name: str, payload: Any, values: Sequence[Any], allow_none: bool = False) -> Any:
    """One of `values`, of the same JSON type (9, not 9.0, "9" or true)."""
    if payload is None and allow_none:
        return None
    if not any(type(payload) is type(value) and payload == value for value in values):
        raise Refused(name, f"Value: {shown(payload)} is not in the list of choices: {list(values)}")
    return payload


def check_trial_id(payload: Any) -> str:
    """A trial id as the app hands them out (16 hex digits); anything else is refused without echoing it whole."""
    text = check_text("trial_id", payload).strip()
    if not TRIAL_ID.fullmatch(text):
        raise ValueError(f"unknown trial id {shown(text)}: trial ids are 16 hex digits; start a new trial first")
    return text


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()[:12]


@dataclass(frozen=True)
class Client:
    """Who sent a request, anonymously: short hashes, never an address or a name in the vote file.

    `session`: the page's session (one browser tab); a trial belongs to the session that asked for it.
    `address`: the client's network address, what the vote rate is keyed on; a client can open new sessions for free
    but cannot rotate its address for free.
    """

    session: str
    address: str

    @classmethod
    def from_request(
        cls, session_hash: str | None, host: str | None, headers: Mapping[str, str], behind_proxy: bool
    ) -> Client:
        """`behind_proxy`: the last X-Forwarded-For entry is the address the trusted proxy (a Space's) saw; the
        earlier entries are whatever the client wrote, so they never count. Without a proxy the header is the
        client's own text and is ignored."""
        address = host or "unknown"
        forwarded = headers.get("x-forwarded-for", "") if behind_proxy else ""
        if forwarded.strip():
            address = forwarded.split(",")[-1].strip()
        return cls(session=_digest(session_hash or "anonymous"), address=_digest(address))
