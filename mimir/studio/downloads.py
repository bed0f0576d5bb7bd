"""ASGI middleware: tells the study each time a trial's video file was sent WHOLE, which is what the server-side
"watched both" rule counts (mimir/study/trial_store.py).

A response counts when its status is 200 or 206 and the body bytes it sent cover the whole file: a browser loading a
clip gets it in one response (`Range: bytes=0-`, 206, every byte), while a probe that asks for one byte
(`Range: bytes=0-0`) or a client that drops the connection half-way is not counted. The file name carries the trial
id and the side (`trial-<id>-A.mp4`), so no state is needed to know which trial a file belongs to.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import anyio


TRIAL_FILE = re.compile(r"/trial-([0-9a-f]{16})-([AB])\.mp4$")


def _content_range_total(headers: list[tuple[bytes, bytes]]) -> int | None:
    """The file size of a 206 response (`Content-Range: bytes a-b/size`), or None."""
    for name, value in headers:
        if name.lower() == b"content-range":
            total = value.decode("latin-1").rpartition("/")[2]
            return int(total) if total.isdigit() else None
    return None


def _content_length(headers: list[tuple[bytes, bytes]]) -> int | None:
    for name, value in headers:
        if name.lower() == b"content-length" and value.isdigit():
            return int(value)
    return None


class TrialFileTracker:
    """Calls `on_fetch(trial_id, side)` after a response that sent a trial's whole video file."""

    def __init__(self, app: Any, on_fetch: Callable[[str, str], None]) -> None:
        self.app = app
        self.on_fetch = on_fetch

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        get = scope["type"] == "http" and scope.get("method") == "GET"  # a HEAD request sends no video
        match = TRIAL_FILE.search(scope.get("path", "")) if get else None
        if match is None:
            return await self.app(scope, receive, send)
        state = {"size": None, "sent": 0, "done": False}

        async def tracked_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers", [])
                if message["status"] == 200:
                    state["size"] = _content_length(headers)
                elif message["status"] == 206:
                    state["size"] = _content_range_total(headers)
            elif message["type"] == "http.response.body" and state["size"] is not None:
                state["sent"] += len(message.get("body", b""))
                whole = state["sent"] >= state["size"] > 0
                if whole and not message.get("more_body") and not state["done"]:
                    # Counted as the last bytes are handed to the server, not after: the server's send of a final
                    # message may not return before the connection closes. A small SQLite write, off the event
                    # loop so a busy trial file never stalls other requests.
                    state["done"] = True
                    await anyio.to_thread.run_sync(self.on_fetch, match[1], match[2])
            await send(message)

        return await self.app(scope, receive, tracked_send)
