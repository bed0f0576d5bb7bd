"""Gradio adapters of the app (the only other module that imports gradio): checked widgets, errors -> gr.Error,
the request's client and liveness, and the queue policy.

Every endpoint checks its own arguments before anything runs: their count (`StudioBlocks`) and each raw value's
JSON type (the widgets below, through mimir.studio.requests); a refusal names the parameter, the value and the rule.
"""

from __future__ import annotations

import functools
import gc
import html
import json
import logging
import os
import re
import signal
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import torch
from gradio import route_utils
from gradio.context import LocalContext
from starlette.middleware import Middleware

from mimir.checks import shown
from mimir.generation import GenerationCancelled
from mimir.studio.config import on_space
from mimir.studio.downloads import TrialFileTracker
from mimir.studio.requests import Client, Refused, check_choice, check_number, check_text


logger = logging.getLogger("mimir.app")

# Every event that runs a model joins this concurrency group of size 1: one generation at a time, whichever tab.
MODEL_QUEUE = "model"
# Model jobs waiting at most, all clients together, and per client address (our choices: a burst of visitors fits,
# one client cannot fill the queue). Other events are bounded apart (OTHER_QUEUE_SIZE), so votes, seeds and results
# never get "queue full" because generations wait.
MAX_QUEUE_SIZE = 64
MAX_QUEUED_PER_CLIENT = 4
OTHER_QUEUE_SIZE = 256
# An error toast closes by itself after this long, so refusals in a row do not pile up ("Error (3)"); the tab's status
# line keeps the last one.
TOAST_SECONDS = 6


def _refuse(name: str, reason: str) -> gr.Error:
    logger.warning("%s refused: %s", name, reason)
    return gr.Error(
        html.escape(f"{name}: {reason}", quote=False),
        duration=TOAST_SECONDS,
        title="Input refused",
        print_exception=False,
    )


def _checked(check: Callable[[], Any]) -> Any:
    try:
        return check()
    except Refused as err:
        raise _refuse(err.name, err.reason) from None


def _gradio_check(component: gr.components.Component, preprocess: Callable, payload: Any) -> Any:
    """Run a widget's own check too; its refusal names the parameter and logs one line, not a traceback."""
    try:
        return preprocess(payload)
    except gr.Error as err:
        raise _refuse(component.label, err.message) from None


class Textbox(gr.Textbox):
    """gr.Textbox (same page component) that takes text only (requests.check_text)."""

    def get_block_name(self) -> str:
        return "textbox"

    def preprocess(self, payload: Any) -> Any:
        return super().preprocess(_checked(lambda: check_text(self.label, payload)))


class Number(gr.Number):
    """gr.Number (same page component) for whole numbers (seeds): anything but a JSON integer is refused."""

    def get_block_name(self) -> str:
        return "number"

    def preprocess(self, payload: Any) -> Any:
        _checked(lambda: check_number(self.label, payload, whole=True))
        _gradio_check(self, super().preprocess, payload)  # Gradio's float, for its range check only
        return payload


class Slider(gr.Slider):
    """gr.Slider (same page component) whose type and range checks refuse like every other input."""

    whole = False

    def get_block_name(self) -> str:
        return "slider"

    def preprocess(self, payload: Any) -> Any:
        _checked(lambda: check_number(self.label, payload, whole=self.whole))
        return _gradio_check(self, super().preprocess, payload)


class IntSlider(Slider):
    """A Slider of whole numbers (steps, K): integers only."""

    whole = True

    def preprocess(self, payload: Any) -> Any:
        return int(super().preprocess(payload))


class Dropdown(gr.Dropdown):
    """gr.Dropdown (same page component): the value must be one of the choices, of their type (9, not 9.0)."""

    def get_block_name(self) -> str:
        return "dropdown"

    def preprocess(self, payload: Any) -> Any:
        _checked(lambda: check_choice(self.label, payload, [value for _, value in self.choices]))
        return _gradio_check(self, super().preprocess, payload)


class Radio(gr.Radio):
    """gr.Radio (same page component) whose choice check refuses like every other input."""

    def get_block_name(self) -> str:
        return "radio"

    def preprocess(self, payload: Any) -> Any:
        if payload is not None and not isinstance(payload, str):  # Gradio's own check names the choices
            raise _refuse(self.label, f"{shown(payload)} is not one of the choices")
        return _gradio_check(self, super().preprocess, payload)


class StudioBlocks(gr.Blocks):
    """gr.Blocks whose endpoints take exactly their number of arguments (Gradio ignores extra ones and answers too
    few with an error the client never sees)."""

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        expected = block_fn.inputs
        if len(inputs) != len(expected):
            name = f"/{block_fn.api_name}" if block_fn.api_name else block_fn.name
            labels = ", ".join(str(getattr(c, "label", None) or type(c).__name__) for c in expected)
            raise _refuse(name, f"takes {len(expected)} arguments ({labels}), got {len(inputs)}")


def user_errors(fn: Callable) -> Callable:
    """Show input errors as gr.Error (the message names the value and the rule) and survive any fault.

    A refused input is the user's mistake, not the app's: it is logged as one line, without a traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as err:
            # Where it was raised, so that a ValueError from a bug rather than a check can still be found.
            origin = traceback.extract_tb(err.__traceback__)[-1]
            logger.warning("%s refused: %s [%s:%d]", fn.__name__, err, Path(origin.filename).name, origin.lineno)
            # gr.Error renders HTML: escape the quoted input (a prompt may hold "<"), keep the quotes readable.
            message = html.escape(str(err), quote=False)
            raise gr.Error(message, duration=TOAST_SECONDS, title="Input refused", print_exception=False) from None
        except GenerationCancelled:
            # The client cancelled or went away: nobody reads this answer; the slot is free for the next request.
            logger.info("%s stopped: its request was cancelled or its client disconnected", fn.__name__)
            raise gr.Error("Cancelled.", print_exception=False) from None
        except (torch.OutOfMemoryError, MemoryError):
            _free_memory()
            logger.error("%s ran out of memory", fn.__name__)
            raise gr.Error(
                "Out of memory while generating. Try fewer frames, a smaller size or fewer steps, "
                "or start the app with --memory model_offload.",
                duration=TOAST_SECONDS,
                print_exception=False,
            ) from None
        except Exception as err:
            # A fault of the app or the model, not of the input: logged with its traceback, shown in words (never
            # Gradio's bare "error"), and the app keeps serving the next request.
            _free_memory()
            logger.exception("%s failed", fn.__name__)
            message = html.escape(f"{type(err).__name__}: {err}"[:300], quote=False)
            raise gr.Error(
                f"{fn.__name__} failed: {message}. Please try again.", duration=TOAST_SECONDS, print_exception=False
            ) from None

    return wrapper


def _free_memory() -> None:
    """Free what a failed call held so the next request can run."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


UNWATCHED = {"a": False, "b": False}  # which study videos played to the end in this page


def ended(side: str) -> Callable[[dict], tuple]:
    """Votes unlock in the page after both videos played through once: the <video> elements' `ended` events. (The
    server keeps its own rule: mimir/study/trial_store.py.) Returns (state, vote button update, status line)."""

    def handler(state: dict) -> tuple:
        state = {**state, side: True}
        both = state["a"] and state["b"]
        note = "Both videos watched: cast your vote." if both else f"Video {side.upper()} watched."
        return state, gr.update(interactive=both), note

    return handler


def bar(progress: gr.Progress) -> Callable[[float, str], None]:
    return lambda fraction, desc: progress(fraction, desc=desc)


def client_of(request: Any) -> Client:
    """The anonymous client of a gr.Request or a FastAPI request (requests.Client says what is kept). Behind a
    Space's proxy (or with MIMIR_BEHIND_PROXY=1 behind your own) the address is the proxy's last X-Forwarded-For."""
    headers = getattr(request, "headers", None) or {}
    host = getattr(getattr(request, "client", None), "host", None)
    behind_proxy = on_space() or os.environ.get("MIMIR_BEHIND_PROXY") == "1"
    return Client.from_request(getattr(request, "session_hash", None), host, headers, behind_proxy=behind_proxy)


def request_alive() -> Callable[[], bool]:
    """Whether the queued request this worker thread serves is still wanted.

    Gradio cancels a request (its /cancel route, or a client that disconnects) by dropping its event from the queue's
    active jobs or marking it not alive, but cannot stop the thread that runs it: without this check a cancelled
    generation would run on, beside the next one. Outside a queued request (direct calls, tests) it is always alive.
    """
    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return lambda: True

    def alive() -> bool:
        for job in list(queue.active_jobs):
            for event in job or ():
                if event._id == event_id:
                    return event.alive
        return False

    return alive


def bounded_queue(demo: gr.Blocks) -> gr.Blocks:
    """The app's queue: model jobs bounded in all and per client address, other events bounded apart, so a flood of
    generations can neither delay a vote nor refuse one. Gradio's own `max_size` counts every event together."""
    # Gradio rebuilds its usage summary (a pandas table of up to 10 000 past events) after every event by default:
    # work that grows with every request served and halved the vote rate by the 1000th vote. Every 100 events is
    # plenty for its monitoring page. The queue reads the setting when it is created, here.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "100")
    demo.queue(max_size=None)
    queue = demo._queue
    push = queue.push

    async def bounded_push(body: Any, request: Any, username: Any) -> tuple:
        if body.fn_index is not None:
            fn = route_utils.get_fn(demo, None, body)
            waiting = [e for q in queue.event_queue_per_concurrency_id.values() for e in q.queue]
            model = [e for e in waiting if e.concurrency_id == MODEL_QUEUE]
            if fn.concurrency_id == MODEL_QUEUE:
                if len(model) >= MAX_QUEUE_SIZE:
                    return (
                        False,
                        f"Queue is full. Max size is {MAX_QUEUE_SIZE} waiting generations; try again later.",
                        "queue_full",
                    )
                me = client_of(request).address
                mine = sum(client_of(e.request).address == me for e in model)
                if mine >= MAX_QUEUED_PER_CLIENT:
                    return (
                        False,
                        f"Queue is full for you: {mine} of your generations are waiting (at most "
                        f"{MAX_QUEUED_PER_CLIENT} per client); wait for them to finish.",
                        "queue_full",
                    )
            elif len(waiting) - len(model) >= OTHER_QUEUE_SIZE:
                return False, f"Queue is full: {OTHER_QUEUE_SIZE} requests are waiting; try again.", "queue_full"
        return await push(body, request, username)

    queue.push = bounded_push
    return demo


def launch_kwargs(studio: Any, css_path: Path | None, shared: list[Path] = ()) -> dict[str, Any]:
    """What `launch` needs besides host and port: the CSS, the middleware (whole-download tracking for the study,
    404 for unknown API names), and the allowed paths: the app's output folder (an --out-dir outside the temp
    folder must still be served) and the `shared` files the page links to."""
    tracker = Middleware(TrialFileTracker, on_fetch=studio.study.mark_sent)
    return {
        "css_paths": [css_path] if css_path is not None and css_path.exists() else None,
        "app_kwargs": {"middleware": [tracker, Middleware(UnknownEndpoints)]},
        "allowed_paths": [str(studio.outputs.root), *(str(p) for p in shared if p.exists())],
    }


class UnknownEndpoints:
    """ASGI middleware: `/gradio_api/call/<name>` or `/run/<name>` for a name the app does not have answers 404 with
    the names it has, where Gradio would raise inside its route (HTTP 500 and a traceback in the log)."""

    ROUTE = re.compile(r"^/gradio_api/(?:call|run)/(?:v2/)?([^/]+)")

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        match = self.ROUTE.match(scope.get("path", "")) if scope["type"] == "http" else None
        blocks = LocalContext.blocks.get(None) or getattr(scope.get("app"), "blocks", None)
        names = {fn.api_name for fn in getattr(blocks, "fns", {}).values() if fn.api_name} if blocks else None
        # "predict": the page's own route for events by index (`/run/predict` with fn_index), e.g. a video's `end`
        names = None if names is None else names | {"predict"}
        if match is None or names is None or match[1] in names:
            return await self.app(scope, receive, send)
        public = [fn.api_name for fn in blocks.fns.values() if fn.api_name and fn.api_visibility == "public"]
        known = ", ".join(f"/{n}" for n in sorted(public))
        body = json.dumps({"detail": f"no endpoint /{shown(match[1])[1:-1]}; this app has {known}"}).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    # Gradio's launch loop closes the server on KeyboardInterrupt (and its shutdown removes its cached files); a
    # plain SIGTERM (docker stop, a Space restart) would end the process without either.
    raise KeyboardInterrupt


def serve(demo: gr.Blocks, host: str, port: int, on_exit: Callable[[], None], **kwargs: Any) -> None:
    """Serve until Ctrl-C or SIGTERM, then `on_exit` (the studio removes its own output folder, nothing else)."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        demo.launch(server_name=host, server_port=port, **kwargs)
    finally:
        on_exit()
        logger.info("stopped; removed the app's own output folder")
