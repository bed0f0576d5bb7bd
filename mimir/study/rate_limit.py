"""A per-key sliding-window rate limit (the app keys it by the anonymous session id to bound votes per session)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator


class RateLimit:
    """At most `max_events` per `window_seconds` for each key.

    `take(key)` reserves a slot for the duration of a `with` block and gives it back when the block raises, so a
    refused request (bad input) costs the caller nothing; only completed events count.
    """

    def __init__(
        self,
        max_events: int,
        window_seconds: float,
        what: str = "events",
        clock: Callable[[], float] = time.monotonic,
        per: str = "session",
    ) -> None:
        """`what`: the events counted, `per`: what a key stands for; both only name them in the refusal."""
        if max_events < 1 or window_seconds <= 0:
            raise ValueError(f"rate limit {max_events} per {window_seconds} s must allow at least one event")
        self.max_events = max_events
        self.window_seconds = window_seconds
        self.what = what
        self.per = per
        self.clock = clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, now: float) -> None:
        for key in [k for k, q in self._events.items() if not q or q[-1] <= now - self.window_seconds]:
            del self._events[key]  # idle keys go, so the table stays as small as the active sessions

    @contextlib.contextmanager
    def take(self, key: str) -> Iterator[None]:
        with self._lock:
            now = self.clock()
            if len(self._events) > 1024:
                self._prune(now)
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window_seconds:
                events.popleft()
            if len(events) >= self.max_events:
                wait = events[0] + self.window_seconds - now
                raise ValueError(
                    f"too many {self.what} from this {self.per}: at most {self.max_events} per "
                    f"{self.window_seconds:g} s; try again in {wait:.0f} s"
                )
            events.append(now)
        try:
            yield
        except BaseException:
            with self._lock:
                with contextlib.suppress(ValueError):
                    events.remove(now)
            raise
