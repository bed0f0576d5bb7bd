"""Mimir Studio: CogVideoX vs Mimir side by side, the token space (paper Fig. 7) and a blind user study.

Gradio UI only: layout, event wiring and adapters (widget values -> call arguments, frames -> mp4/gif, ValueError ->
gr.Error). The logic lives in `mimir/` (generation, token analysis, study), which never imports gradio; every input
rule lives in the pipeline's `check_inputs`, and the app only shows its errors. UI policy (slider ranges) lives here.
The pipelines are loaded once, in `main()`, never at import.

    python app.py                                      # nano preset, CPU, offline
    python app.py --preset cogvideox-5b --mimir-weights PATH --memory model_offload
    python app.py --preset cogvideox-5b --base-model DIR --llm DIR --mimir-weights PATH   # local copies
    python app.py --fast                               # step cache (+ torch.compile on CUDA); MIMIR_FAST=on on a Space

Named API endpoints (scriptable with `gradio_client`): /generate, /random_seed, /tokens, /new_trial, /vote, /results.
Every endpoint checks its own arguments before anything runs: their count (`StudioBlocks`) and each value's type
(the checked widgets below); a refusal names the parameter, the value and the rule.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import html
import logging
import math
import os
import random
import re
import signal
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import gradio as gr
import torch
from gradio.context import LocalContext
from starlette.middleware import Middleware

import mimir
from mimir import tokens
from mimir.bench import score_video
from mimir.generation import GenerationCancelled, GenerationResult, GenerationSettings, StepProgress, compare
from mimir.gpu_time import check_budget, pair_seconds
from mimir.loading import StudioPipelines, load_pipelines
from mimir.outputs import MAX_AGE_SECONDS, OutputFolder
from mimir.study import analysis, trials, votes
from mimir.study.rate_limit import RateLimit
from mimir.study.trial_store import TrialStore, TrialStoreError, trial_store_path
from mimir.study.vote_store import VoteStore, VoteStoreError, votes_frame
from mimir.video import DISPLAY_UPSCALE, MAX_SEED, save_gif, save_mp4
from mimir.world.captions import parse_prompt


try:  # Hugging Face ZeroGPU Spaces schedule GPU work through `@spaces.GPU`; elsewhere the package is absent.
    import spaces
except ImportError:
    spaces = None

logger = logging.getLogger("mimir.app")

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "prompts" / "examples"
CSS_PATH = ROOT / "assets" / "css" / "studio.css"
# The paper's prompt categories (Fig. 1, 5, 6), in its order; files in prompts/examples/<category>.txt.
EXAMPLE_CATEGORIES = ("colour", "spatial_relationship", "counting", "action_order", "appearance", "lighting")
# UI policy, not model rules: the pipeline accepts any guidance >= 0 and up to num_train_timesteps steps; the sliders
# offer the range where CogVideoX-style guidance and step counts make sense interactively.
GUIDANCE_RANGE = (1.0, 20.0)
MAX_UI_STEPS = 100
# Every event that runs a model joins this concurrency group of size 1: one generation at a time, whichever tab.
MODEL_QUEUE = "model"
# Requests waiting in the queue at most; beyond it Gradio answers "queue is full" at once, so a burst of jobs cannot
# pile up hours of work. Gradio counts every event (votes too) against one bound, so it leaves room for a burst of
# votes beside waiting generations (our choice: 50 voters at once, plus a few generations).
MAX_QUEUE_SIZE = 64
# Votes per session and minute: a real voter needs a generation and two clips per vote, so this is never reached by
# hand (our choice; --votes-per-minute changes it).
VOTE_RATE = (12, 60.0)
ANALYTICS_EVERY = 100  # events between two rebuilds of Gradio's usage summary (see `queued`)
# Gradio's own copies of served files (its cache) are swept as often and kept as long as the app's folder.
CACHE_SWEEP_SECONDS = 600
# Progress labels of a blind trial: by generation order only, since naming the model (or its side) would unblind it.
TRIAL_PROGRESS_LABELS = {"cogvideox": "video 1 of 2", "mimir": "video 2 of 2"}


def _gpu(duration: int | Callable[..., int]) -> Callable[[Callable], Callable]:
    """`@spaces.GPU` on Hugging Face ZeroGPU Spaces; a no-op everywhere else. `duration`: seconds, or a function of
    the decorated function's arguments that returns them (ZeroGPU calls it before granting the GPU)."""
    return (lambda fn: fn) if spaces is None else spaces.GPU(duration=duration)


def user_errors(fn: Callable) -> Callable:
    """Show input errors as gr.Error (the message names the value and the rule) and survive out-of-memory.

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
            raise gr.Error(html.escape(str(err), quote=False), title="Input refused", print_exception=False) from None
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
                print_exception=False,
            ) from None
        except Exception as err:
            # A fault of the app or the model, not of the input: logged with its traceback, shown to the user in
            # words (never Gradio's bare "error"), and the app keeps serving the next request.
            _free_memory()
            logger.exception("%s failed", fn.__name__)
            message = html.escape(f"{type(err).__name__}: {err}"[:300], quote=False)
            raise gr.Error(f"{fn.__name__} failed: {message}. Please try again.", print_exception=False) from None

    return wrapper


def _free_memory() -> None:
    """Free what a failed call held so the next request can run."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _refuse(name: str, message: str) -> gr.Error:
    logger.warning("%s refused: %s", name, message)
    return gr.Error(html.escape(f"{name}: {message}", quote=False), title="Input refused", print_exception=False)


def _refused_quietly(component: gr.components.Component, preprocess: Callable, payload: Any) -> Any:
    """Run a widget's own check (an API client can send any value): a refusal names the parameter and logs one line,
    where Gradio's own error would print a traceback."""
    try:
        return preprocess(payload)
    except gr.Error as err:
        raise _refuse(component.label, err.message) from None


def _check_number(name: str, payload: Any, whole: bool) -> None:
    """The raw JSON value of a number widget: a number, finite, and (`whole`) sent as an integer. Gradio would pass
    `true`, "abc" or NaN on to the app, and a float seed would be rounded somewhere down the line."""
    if isinstance(payload, bool) or not isinstance(payload, (int, float)):
        raise _refuse(name, f"{payload!r} is not a number")
    if not math.isfinite(payload):
        raise _refuse(name, f"{payload!r} is not a finite number")
    if whole and not isinstance(payload, int):
        raise _refuse(name, f"{name}={payload!r} must be a whole number, sent as an integer")


class Textbox(gr.Textbox):
    """gr.Textbox (same page component) that takes text only: a JSON list, a number or null is refused, not turned
    into its string; so is a lone surrogate, which no file or tokenizer can encode."""

    def get_block_name(self) -> str:
        return "textbox"

    def preprocess(self, payload: Any) -> Any:
        if not isinstance(payload, str):
            raise _refuse(self.label, f"{payload!r} is not text")
        try:
            payload.encode("utf-8")
        except UnicodeEncodeError as err:
            raise _refuse(self.label, f"character {err.start} is a lone surrogate, not text") from None
        return super().preprocess(payload)


class Number(gr.Number):
    """gr.Number (same page component) for whole numbers (seeds): anything but a JSON integer is refused."""

    def get_block_name(self) -> str:
        return "number"

    def preprocess(self, payload: Any) -> Any:
        _check_number(self.label, payload, whole=True)
        return _refused_quietly(self, super().preprocess, payload)


class Slider(gr.Slider):
    """gr.Slider (same page component) whose type and range checks refuse like every other input."""

    whole = False

    def get_block_name(self) -> str:
        return "slider"

    def preprocess(self, payload: Any) -> Any:
        _check_number(self.label, payload, whole=self.whole)
        return _refused_quietly(self, super().preprocess, payload)


class IntSlider(Slider):
    """A Slider of whole numbers (steps, K): integers only."""

    whole = True


class Dropdown(gr.Dropdown):
    """gr.Dropdown (same page component) whose choice check refuses like every other input; the value must have the
    choices' own type (9, not 9.0, "9" or true)."""

    def get_block_name(self) -> str:
        return "dropdown"

    def preprocess(self, payload: Any) -> Any:
        values = [value for _, value in self.choices]
        if not any(type(payload) is type(value) and payload == value for value in values):
            raise _refuse(self.label, f"Value: {payload!r} is not in the list of choices: {values}")
        return _refused_quietly(self, super().preprocess, payload)


class Radio(gr.Radio):
    """gr.Radio (same page component) whose choice check refuses like every other input."""

    def get_block_name(self) -> str:
        return "radio"

    def preprocess(self, payload: Any) -> Any:
        if payload is not None and not isinstance(payload, str):
            raise _refuse(self.label, f"{payload!r} is not one of the choices")
        return _refused_quietly(self, super().preprocess, payload)


class StudioBlocks(gr.Blocks):
    """gr.Blocks whose endpoints take exactly their number of arguments (Gradio ignores extra ones and answers too
    few with an error the client never sees)."""

    def validate_inputs(self, block_fn: Any, inputs: list[Any]) -> None:
        expected = block_fn.inputs
        if len(inputs) != len(expected):
            name = f"/{block_fn.api_name}" if block_fn.api_name else block_fn.name
            labels = ", ".join(str(getattr(c, "label", None) or type(c).__name__) for c in expected)
            raise _refuse(name, f"takes {len(expected)} arguments ({labels}), got {len(inputs)}")


class TrialFileTracker:
    """ASGI middleware: tells the trial store each time a trial's video file is sent (HTTP 200 or 206), which is what
    the server-side "watched both" rule counts (mimir/study/trial_store.py). The file name carries the trial id."""

    PATTERN = re.compile(r"/trial-([0-9a-f]{16})-([AB])\.mp4$")

    def __init__(self, app: Any, on_fetch: Callable[[str, str], None]) -> None:
        self.app = app
        self.on_fetch = on_fetch

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        get = scope["type"] == "http" and scope.get("method") == "GET"  # a HEAD request sends no video
        match = self.PATTERN.search(scope.get("path", "")) if get else None
        if match is None:
            return await self.app(scope, receive, send)

        async def tracked_send(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] in (200, 206):
                # A small SQLite write, off the event loop so a busy trial file never stalls other requests.
                await anyio.to_thread.run_sync(self.on_fetch, match[1], match[2])
            await send(message)

        return await self.app(scope, receive, tracked_send)


class Studio:
    """UI adapters over the loaded pipelines; each public method backs one event and one named API endpoint."""

    def __init__(
        self,
        pipes: StudioPipelines,
        votes_path: str | Path = votes.DEFAULT_VOTES,
        study_prompts: str | Path | None = None,
        out_dir: str | Path | None = None,
        study_seed: int | None = None,
        trials_path: str | Path | None = None,
        vote_rate: tuple[int, float] = VOTE_RATE,
        max_output_bytes: int | None = None,
        gpu_max_seconds: int | None = None,
    ) -> None:
        """Opens the vote file and the trial file first: VoteStoreError / TrialStoreError say why they cannot be used
        (the app must not start and then fail every vote)."""
        self.pipes = pipes
        self.gpu_max_seconds = gpu_max_seconds  # ZeroGPU: refuse up front what would need more GPU time than this
        self.votes = VoteStore(votes_path).open()
        self.trial_store = TrialStore(trials_path or trial_store_path(votes_path)).open()
        self.trials = trials.TrialFactory(trials.load_study_prompts(study_prompts), seed=study_seed, max_seed=MAX_SEED)
        self.vote_limit = RateLimit(*vote_rate, what="votes")
        self.outputs = OutputFolder(out_dir, **({} if max_output_bytes is None else {"max_bytes": max_output_bytes}))
        self.out_dir = self.outputs.root
        self.app_version = mimir.__version__

    # ---- helpers ---------------------------------------------------------------------------------------------------

    def header_markdown(self) -> str:
        p = self.pipes
        fast = "off" if p.fast is None else "fp8" if p.fast.float8 else "on"
        text = f"# Mimir Studio\n**preset** `{p.preset}` · **memory** `{p.memory}` · **fast** `{fast}`"
        text += " · CogVideoX vs Mimir (CVPR 2025)"
        if not p.trained:
            text += (
                "\n\n<div class='untrained'><b>untrained</b>: the nano video models are random-initialised "
                "(no trained weights under mimir/assets/nano/). Videos are noise; the app, the token space and the "
                "study machinery still work.</div>"
            )
        return text

    def _folder(self) -> Path:
        """A new folder for one event's files (a random name under the app's one output folder, after sweeping old
        ones); created by the first file written, so a refused input leaves none."""
        return self.outputs.new_folder()

    def _save(self, frames: Any, stem: str) -> tuple[str, str]:
        folder = self._folder()
        mp4 = save_mp4(frames, folder / f"{stem}.mp4", upscale=DISPLAY_UPSCALE)
        gif = save_gif(frames, folder / f"{stem}.gif", upscale=DISPLAY_UPSCALE)
        return str(mp4), str(gif)

    # ---- Compare tab -----------------------------------------------------------------------------------------------

    @user_errors
    def generate(
        self,
        prompt: str,
        negative_prompt: str,
        seed: float,
        num_frames: float,
        height: float,
        width: float,
        num_inference_steps: float,
        guidance_scale: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008  (Gradio's documented idiom)
    ) -> tuple:
        """CogVideoX and Mimir for one prompt with the same seed and initial latents.

        Returns (cogvideox mp4, mimir mp4, cogvideox info, mimir info, cogvideox files, mimir files, used seed).
        """
        settings = GenerationSettings(
            prompt=prompt,
            negative_prompt=negative_prompt or "",
            seed=_as_int("seed", seed),
            num_frames=_as_int("num_frames", num_frames),
            height=_as_int("height", height),
            width=_as_int("width", width),
            num_inference_steps=_as_int("num_inference_steps", num_inference_steps),
            guidance_scale=_as_float("guidance_scale", guidance_scale),
        )
        results = self._run(self.pipes, settings, _step_progress(progress, votes.MODEL_LABELS, _request_alive()))
        spec = _parse_prompt(settings.prompt) if self.pipes.preset == "nano" else None
        out: dict[str, Any] = {}
        for model, res in results.items():
            mp4, gif = self._save(res.frames, f"{model}-seed{settings.seed}")
            verdicts = None if spec is None else score_video(res.frames, spec)
            info = _result_markdown(votes.MODEL_LABELS[model], res, verdicts, nano=self.pipes.preset == "nano")
            out[model] = (mp4, info, [mp4, gif])
        cog, mim = out["cogvideox"], out["mimir"]
        return cog[0], mim[0], cog[1], mim[1], cog[2], mim[2], settings.seed

    def _run(
        self, pipes: StudioPipelines, settings: GenerationSettings, progress: StepProgress | None = None
    ) -> dict[str, GenerationResult]:
        """Both videos of `settings`, refused before any GPU is asked for if the settings are invalid or need more
        GPU time than `gpu_max_seconds`."""
        settings.validate(pipes.cogvideox, pipes.mimir)
        check_budget(pair_seconds(pipes.preset, pipes.memory, settings), self.gpu_max_seconds)
        return _run_compare(pipes, settings, progress)

    # ---- Token space tab -------------------------------------------------------------------------------------------

    @user_errors
    def token_space(
        self,
        prompts_text: str,
        answer_prompt: str,
        k: float,
        perplexity: float,
        seed: float,
        progress: gr.Progress = gr.Progress(),  # noqa: B008
    ) -> tuple:
        """Fig. 7 a-d for the user's prompts. Returns 4 plotly figures, the value-range table, volatility, answers."""
        alive = _request_alive()

        def report(fraction: float, stage: str) -> None:
            if not alive():
                raise GenerationCancelled(stage)
            progress(fraction, desc=stage)

        space = _run_token_space(
            self.pipes.mimir,
            (prompts_text or "").splitlines(),
            answer_prompt=answer_prompt,
            k=_as_int("K", k),
            perplexity=_as_float("perplexity", perplexity),
            seed=_as_int("seed", seed),
            progress=report,
        )
        figs = [tokens.figure(space.panels[key]) for key in "abcd"]
        answers = "\n".join(f"{i + 1}. {a}" for i, a in enumerate(space.answers)) or "(no answers)"
        answers_md = f"**Sampled answers (panel b)**\n\n{answers}\n\n" + "  \n".join(f"_{n}_" for n in space.notes)
        return (*figs, space.stats, space.volatility, answers_md)

    # ---- User study tab --------------------------------------------------------------------------------------------

    @user_errors
    def new_trial(self, own_prompt: str, progress: gr.Progress = gr.Progress()) -> tuple:  # noqa: B008
        """A blind trial: the next study prompt (or `own_prompt`), a random seed, random sides.

        Returns (trial id, prompt, seed, video A, video B, status, vote button update, reveal text, ended state).
        """
        trial = self.trials.new_trial(trials.study_settings(self.pipes), prompt=own_prompt, preset=self.pipes.preset)
        made = trials.generate_trial(
            trial,
            self.pipes,
            self._folder(),
            run=self._run,
            progress=_step_progress(progress, TRIAL_PROGRESS_LABELS, _request_alive()),
        )
        seconds = trial.settings["num_frames"] / made.fps
        # The server's "watched both" rule: both files fetched, or the time it takes to play both clips in turn.
        self.trial_store.add(trial, watch_seconds=2 * seconds)
        status = f"Play both videos to the end ({seconds:.1f} s each, {made.fps} fps), then vote on each criterion."
        return (
            trial.trial_id,
            trial.prompt,
            trial.seed,
            str(made.video_a),
            str(made.video_b),
            status,
            gr.update(interactive=False),
            "",
            {"a": False, "b": False},
        )

    @user_errors
    def vote(
        self,
        trial_id: str,
        instruction_following: str | None,
        physics: str | None,
        visual_quality: str | None,
        request: gr.Request,
    ) -> tuple:
        """Record one ballot (three criteria), then reveal which model was which. Returns (reveal, button update).

        Accepted only for an open trial whose videos were watched (the trial store's rule), once per trial (the vote
        file's rule) and within the session's vote rate; a refused vote writes nothing and uses no rate."""
        trial = self.trial_store.get(trial_id)
        ballot = {"instruction_following": instruction_following, "physics": physics, "visual_quality": visual_quality}
        session = _session_id(request)
        rows = votes.vote_rows(trial, ballot, session_id=session, app_version=self.app_version)
        self.trial_store.check_watched(trial.trial_id)
        with self.vote_limit.take(session):
            self.votes.append(rows)  # vote_rows checked the whole ballot first: nothing is written on bad input
        return f"**Thanks, vote recorded.** {trial.reveal()}", gr.update(interactive=False)

    # ---- Results tab -----------------------------------------------------------------------------------------------

    @user_errors
    def results(self) -> tuple:
        """Table 2 layout, Bradley-Terry strengths with 95% CI, counts, a BT plot and the CSV for download."""
        # One snapshot of whole rows for the tables and the download: they agree, and never catch a row being written.
        snapshot = self.votes.snapshot()
        rep = analysis.report(votes_frame(snapshot))
        csv_path = None
        if snapshot:
            folder = self._folder()
            folder.mkdir(parents=True)
            csv_path = str(folder / "votes.csv")
            Path(csv_path).write_bytes(snapshot)
        summary = f"**{rep.n_votes} votes** from **{rep.n_trials} trials** in `{self.votes.path}`.  \n" + " ".join(
            rep.notes
        )
        figure = analysis.bradley_terry_figure(rep.bradley_terry)
        return summary, rep.table2, rep.bradley_terry, rep.counts, figure, csv_path


# ---- adapters and module-level GPU functions (ZeroGPU wants plain functions) --------------------------------------


def _compare_seconds(
    pipes: StudioPipelines, settings: GenerationSettings, progress: StepProgress | None = None
) -> int:
    """The GPU time `_run_compare` asks ZeroGPU for: what the preset, memory mode and settings need
    (mimir/gpu_time.py), so a quick call is not refused for a long one's duration nor a slow mode cut off."""
    return pair_seconds(pipes.preset, pipes.memory, settings)


@_gpu(duration=_compare_seconds)
def _run_compare(
    pipes: StudioPipelines, settings: GenerationSettings, progress: StepProgress | None = None
) -> dict[str, GenerationResult]:
    return compare(pipes, settings, progress)


# The text models' forward passes and the sampled answers of panel b: seconds even for Phi-3.5 (our choice of margin).
_run_token_space = _gpu(duration=60)(tokens.token_space)


def _step_progress(
    progress: gr.Progress, labels: dict[str, str], alive: Callable[[], bool] = lambda: True
) -> StepProgress:
    """One bar per generation, labelled with the model (or a neutral label) and its step: "Mimir 12/20". Stops the
    generation between two steps once its request is no longer `alive`."""

    def report(model: str, step: int, total: int) -> None:
        if not alive():
            raise GenerationCancelled(f"{model} step {step}/{total}")
        progress(step / total, desc=f"{labels[model]} {step}/{total}")

    return report


def _request_alive() -> Callable[[], bool]:
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


def _as_int(name: str, value: Any) -> int:
    """Gradio numbers arrive as floats; refuse fractions and non-numbers instead of rounding them silently."""
    f = _as_float(name, value)
    if not f.is_integer():
        raise ValueError(f"{name}={value!r} must be a whole number")
    return int(f)


def _as_float(name: str, value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number") from None


def _session_id(request: gr.Request | None) -> str:
    """Anonymous: a short hash of Gradio's per-tab session hash, never an IP or a name."""
    raw = getattr(request, "session_hash", None) or "anonymous"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _parse_prompt(prompt: str) -> Any:
    """The prompt's nano-world scene spec, or None when it does not parse."""
    try:
        return parse_prompt(prompt)
    except ValueError:
        return None


def _result_markdown(label: str, res: GenerationResult, verdicts: dict[str, Any] | None, nano: bool = True) -> str:
    """Seconds, this generation's peak memory and (nano, parsed prompt) the NanoBench verdicts of one result.

    The verdict on the whole scene comes first (it passes only when every check passes), then the one NanoBench
    counts (the check of the prompt's dimension), then each check: the two can differ, so both are named.
    """
    mem = f"{res.peak_memory_bytes / 2**20:.0f} MiB"
    lines = [f"**{label}** · {res.seconds:.1f} s · peak memory {mem} ({res.peak_memory_kind} during this generation)"]
    if not nano:
        return "\n\n".join(lines)
    if verdicts is None:
        lines.append("NanoBench: prompt not in the nano-world vocabulary, no verdicts.")
        return "\n\n".join(lines)
    checks = verdicts["checks"]
    passed = sum(bool(v) for v in checks.values())
    # Words, not emoji: headless browsers often lack an emoji font.
    overall = "pass" if passed == len(checks) else "FAIL"
    each = " · ".join(f"{name} {'pass' if v else 'FAIL'}" for name, v in checks.items())
    dim = verdicts["dimension"]
    counted = "pass" if checks[dim] else "FAIL"
    lines.append(
        f"Whole scene: **{overall}**, {passed} of {len(checks)} checks pass (NanoBench scores a {dim} prompt on its "
        f"{dim} check alone: {counted})  \n{each}"
    )
    return "\n\n".join(lines)


def load_examples(folder: Path = EXAMPLES_DIR) -> dict[str, list[str]]:
    """Example prompts per category, paper order first, then any other file in the folder."""
    files = {p.stem: p for p in sorted(folder.glob("*.txt"))}
    order = [c for c in EXAMPLE_CATEGORIES if c in files] + [c for c in files if c not in EXAMPLE_CATEGORIES]
    return {c: trials.load_prompt_file(files[c]) for c in order}


# ---- layout ------------------------------------------------------------------------------------------------------


def build_demo(studio: Studio) -> gr.Blocks:
    """The four tabs and their wiring. Every event with an `api_name` is a named API endpoint."""
    d = studio.pipes.defaults
    supported = studio.pipes.mimir.supported_inputs
    steps_lo, steps_hi = supported.num_inference_steps
    examples = load_examples()
    choices = [(label, value) for value, label in votes.CHOICE_LABELS.items()]
    # The limit is stated where the prompt is typed: a longer prompt is refused (check_inputs), never cut.
    prompt_limit = (
        f"at most {supported.max_prompt_tokens} tokens; a longer prompt is refused, never cut "
        f"(and at most {supported.max_prompt_chars} characters, checked first)"
    )
    # Model events: one queue slot for all of them. Progress and errors show in one status line per tab, so a
    # refused input neither clears earlier results nor badges every output box with "Error".
    model_event = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": 1}

    # Gradio keeps its own copy of every served file, in the folder its components read from GRADIO_TEMP_DIR when
    # they are built: point it into the app's folder, so those copies are swept with it (and by delete_cache) and
    # removed with it on shutdown, even when the server thread is cut short.
    os.environ["GRADIO_TEMP_DIR"] = str(studio.outputs.cache)
    with StudioBlocks(title="Mimir Studio", delete_cache=(CACHE_SWEEP_SECONDS, int(MAX_AGE_SECONDS))) as demo:
        gr.Markdown(studio.header_markdown(), elem_id="header")

        with gr.Tab("Compare", id="compare"):
            with gr.Row():
                with gr.Column(scale=2):
                    prompt = Textbox(
                        label="prompt",
                        info=prompt_limit,
                        lines=2,
                        value=next(iter(examples.values()), [""])[0],
                        elem_id="prompt",
                    )
                    negative_prompt = Textbox(label="negative_prompt", info=prompt_limit, lines=1)
                with gr.Column(scale=1):
                    with gr.Row():
                        # No min/max and no precision: the app's own check names the parameter and refuses 1.5
                        # (precision=0 would round it to 2 before the app sees it).
                        seed = Number(label="seed", info=f"a whole number in 0..{MAX_SEED}", value=0, elem_id="seed")
                        random_seed = gr.Button("random seed", size="sm", elem_id="random-seed")
                    used_seed = gr.Number(label="used seed", interactive=False, precision=0, elem_id="used-seed")
            with gr.Accordion("settings", open=False):
                with gr.Row():
                    num_frames = Dropdown(list(supported.num_frames), value=d["num_frames"], label="num_frames")
                    height = Dropdown(list(supported.height), value=d["height"], label="height")
                    width = Dropdown(list(supported.width), value=d["width"], label="width")
                with gr.Row():
                    steps = IntSlider(
                        minimum=steps_lo,
                        maximum=min(steps_hi, MAX_UI_STEPS),
                        value=d["num_inference_steps"],
                        step=1,
                        label="num_inference_steps",
                    )
                    guidance = Slider(*GUIDANCE_RANGE, value=d["guidance_scale"], step=0.5, label="guidance_scale")
            generate_btn = gr.Button("Generate both", variant="primary", elem_id="generate")
            generate_status = gr.Markdown(elem_id="generate-status", elem_classes="status-line")
            with gr.Row():
                with gr.Column():
                    video_cog = gr.Video(label="CogVideoX", elem_id="video-cogvideox", autoplay=True, loop=True)
                    info_cog = gr.Markdown(elem_id="info-cogvideox")
                    files_cog = gr.File(label="download CogVideoX (mp4, gif)", file_count="multiple")
                with gr.Column():
                    video_mimir = gr.Video(label="Mimir", elem_id="video-mimir", autoplay=True, loop=True)
                    info_mimir = gr.Markdown(elem_id="info-mimir")
                    files_mimir = gr.File(label="download Mimir (mp4, gif)", file_count="multiple")
            with gr.Accordion("examples by category (paper Fig. 1, 5, 6)", open=True):
                for category, prompts in examples.items():
                    gr.Examples([[p] for p in prompts], inputs=[prompt], label=category.replace("_", " ").capitalize())

        with gr.Tab("Token space", id="tokens"):
            gr.Markdown(
                "Where the text tokens live (paper Fig. 7): t-SNE of the encoder branch, the LLM branch and the "
                "fused condition. Hover a point for its token, source and norm; click a legend entry to hide a source."
            )
            with gr.Row():
                token_prompts = Textbox(
                    label="prompts for (a), (c), (d) — one per line",
                    info=f"at most {tokens.MAX_PROMPTS} prompts; each {prompt_limit}",
                    lines=4,
                    value="\n".join([p[0] for p in list(examples.values())[:4]]),
                )
                with gr.Column():
                    answer_prompt = Textbox(label="prompt for (b) — empty: the first prompt", info=prompt_limit)
                    k = IntSlider(*tokens.K_RANGE, value=4, step=1, label="K answer samples (b)", elem_id="tokens-k")
                    perplexity = Slider(*tokens.PERPLEXITY_RANGE, value=10, step=1, label="t-SNE perplexity")
                    token_seed = Number(label="answer sampling seed", value=0, elem_id="token-seed")
            tokens_btn = gr.Button("Compute token space", variant="primary", elem_id="tokens-run")
            tokens_status = gr.Markdown(elem_id="tokens-status", elem_classes="status-line")
            with gr.Row():
                plot_a, plot_b = gr.Plot(label="(a)"), gr.Plot(label="(b)")
            with gr.Row():
                plot_c, plot_d = gr.Plot(label="(c)"), gr.Plot(label="(d)")
            stats = gr.Dataframe(label="per-source value ranges and token norms", interactive=False)
            with gr.Row():
                vol = gr.Dataframe(label="volatility across K runs (b)", interactive=False)
                answers = gr.Markdown(elem_id="answers")

        with gr.Tab("User study", id="study"):
            gr.Markdown(
                "Blind pairwise study (paper Table 2). The same prompt and seed through both models; which is "
                "A and which is B is random per trial. Play **both videos to the end** to unlock the vote: the server "
                "counts a vote once both videos were loaded, or after the time it takes to play both."
            )
            with gr.Row():
                own_prompt = Textbox(
                    label="your own prompt (empty: the study list)", info=prompt_limit, scale=3, elem_id="own-prompt"
                )
                trial_btn = gr.Button("New trial", variant="primary", elem_id="new-trial", scale=1)
            with gr.Row():
                trial_id = Textbox(label="trial id", interactive=False, elem_id="trial-id")
                trial_prompt = gr.Textbox(label="prompt", interactive=False)
                trial_seed = gr.Number(label="seed", interactive=False, precision=0)
            trial_status = gr.Markdown(elem_id="trial-status", elem_classes="status-line")
            with gr.Row():
                video_a = gr.Video(label="Video A", elem_id="video-a", loop=False, autoplay=False)
                video_b = gr.Video(label="Video B", elem_id="video-b", loop=False, autoplay=False)
            with gr.Row():
                v_if = Radio(choices, label="Instruction following", elem_id="vote-instruction")
                v_ph = Radio(choices, label="Physics", elem_id="vote-physics")
                v_vq = Radio(choices, label="Visual quality", elem_id="vote-quality")
            vote_btn = gr.Button("Submit vote", variant="primary", interactive=False, elem_id="submit-vote")
            reveal = gr.Markdown(elem_id="reveal", elem_classes="status-line")
            ended = gr.State({"a": False, "b": False})

        with gr.Tab("Results", id="results") as results_tab:
            refresh = gr.Button("Refresh", elem_id="refresh-results")
            summary = gr.Markdown(elem_id="results-summary")
            table2 = gr.Dataframe(label="Table 2 layout: % of votes per criterion", interactive=False)
            bt = gr.Dataframe(
                label=f"Bradley-Terry strengths, bootstrap 95% CI (marked below {analysis.MIN_BOOTSTRAP_VOTES} votes)",
                interactive=False,
                elem_id="bt-table",
            )
            bt_plot = gr.Plot(label="Bradley-Terry")
            counts = gr.Dataframe(label="vote counts", interactive=False, elem_id="counts-table")
            csv_file = gr.File(label="votes CSV")

        # ---- wiring -----------------------------------------------------------------------------------------------
        random_seed.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_name="random_seed", queue=False)
        generate_btn.click(
            studio.generate,
            inputs=[prompt, negative_prompt, seed, num_frames, height, width, steps, guidance],
            outputs=[video_cog, video_mimir, info_cog, info_mimir, files_cog, files_mimir, used_seed],
            api_name="generate",
            show_progress_on=generate_status,
            **model_event,
        )
        tokens_btn.click(
            studio.token_space,
            inputs=[token_prompts, answer_prompt, k, perplexity, token_seed],
            outputs=[plot_a, plot_b, plot_c, plot_d, stats, vol, answers],
            api_name="tokens",
            show_progress_on=tokens_status,
            **model_event,
        )
        trial_btn.click(
            studio.new_trial,
            inputs=[own_prompt],
            outputs=[trial_id, trial_prompt, trial_seed, video_a, video_b, trial_status, vote_btn, reveal, ended],
            api_name="new_trial",
            show_progress_on=trial_status,
            **model_event,
        ).success(lambda: (None, None, None), outputs=[v_if, v_ph, v_vq], api_visibility="private")

        # Votes unlock only after both videos played through once: the <video> elements' `ended` events.
        # These tiny handlers skip the queue so they never wait behind a generation.
        def _ended(side: str) -> Callable:
            def handler(state: dict) -> tuple:
                state = {**state, side: True}
                both = state["a"] and state["b"]
                note = "Both videos watched: cast your vote." if both else f"Video {side.upper()} watched."
                return state, gr.update(interactive=both), note

            return handler

        for side, video in (("a", video_a), ("b", video_b)):
            video.end(
                _ended(side),
                inputs=[ended],
                outputs=[ended, vote_btn, trial_status],
                queue=False,
                api_visibility="private",
            )
        # Votes never wait for each other or for a generation: a vote is milliseconds of file work (the vote file
        # serialises the writes), so they run at once; the per-session rate limit bounds them instead.
        vote_btn.click(
            studio.vote,
            inputs=[trial_id, v_if, v_ph, v_vq],
            outputs=[reveal, vote_btn],
            api_name="vote",
            show_progress_on=reveal,
            concurrency_limit=None,
        )

        results_outputs = [summary, table2, bt, counts, bt_plot, csv_file]
        refresh.click(studio.results, outputs=results_outputs, api_name="results", show_progress_on=summary)
        results_tab.select(studio.results, outputs=results_outputs, api_visibility="private", show_progress_on=summary)
    return demo


# ---- entry point -------------------------------------------------------------------------------------------------


def _positive_seconds(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of seconds") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1 second")
    return value


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(description="Mimir Studio (Gradio app)")
    parser.add_argument("--preset", default=env("MIMIR_PRESET", "nano"), help="nano (default) or cogvideox-5b")
    parser.add_argument(
        "--mimir-weights", default=env("MIMIR_WEIGHTS"), help="folder with transformer/ + token_fuser/"
    )
    parser.add_argument(
        "--base-model",
        default=env("MIMIR_BASE_MODEL"),
        help="cogvideox-5b: CogVideoX Hub id or local diffusers folder (default THUDM/CogVideoX-5b)",
    )
    parser.add_argument(
        "--llm",
        default=env("MIMIR_LLM"),
        help="cogvideox-5b: LLM Hub id or local folder (default microsoft/Phi-3.5-mini-instruct)",
    )
    parser.add_argument(
        "--memory",
        default=env("MIMIR_MEMORY", "none"),
        help="none, model_offload, sequential_offload or group_offload (GPU; see README)",
    )
    parser.add_argument(
        "--fast",
        nargs="?",
        const="on",
        default=env("MIMIR_FAST", "off"),
        help="on (or bare --fast): step cache on both DiTs, torch.compile on CUDA (mimir/fast.py); fp8: also float8 "
        "matmuls (CUDA >= 8.9, torchao; experimental, its quality guard has not passed); default off",
    )
    parser.add_argument("--votes", default=env("MIMIR_VOTES", str(votes.DEFAULT_VOTES)), help="vote CSV (appended)")
    parser.add_argument("--study-prompts", default=env("MIMIR_STUDY_PROMPTS"), help="study prompt list, one per line")
    parser.add_argument(
        "--votes-per-minute",
        type=int,
        default=int(env("MIMIR_VOTES_PER_MINUTE", str(VOTE_RATE[0]))),
        help="votes one session may cast per minute (default: %(default)s)",
    )
    parser.add_argument(
        "--out-dir",
        default=env("MIMIR_OUT_DIR"),
        help="the app's folder of generated files (default: a new mimir-studio-* folder in the temp folder); "
        "removed on shutdown",
    )
    parser.add_argument(
        "--gpu-max-seconds",
        type=_positive_seconds,  # argparse converts a string default too: MIMIR_GPU_MAX_SECONDS is checked alike
        default=env("MIMIR_GPU_MAX_SECONDS"),
        help="refuse generations whose estimated GPU time (mimir/gpu_time.py) exceeds this (ZeroGPU Spaces)",
    )
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"))
    return parser.parse_args(argv)


def on_zero_gpu() -> bool:
    """Whether this process runs on a ZeroGPU Space (the `spaces` package says so in its config)."""
    config = getattr(getattr(spaces, "config", None), "Config", None)
    return bool(getattr(config, "zero_gpu", False))


def check_memory_for_space(memory: str, zero_gpu: bool) -> None:
    """ZeroGPU lends a GPU only inside `@spaces.GPU` calls; the main process loads the models and may only move them
    to "cuda". `group_offload` creates its CUDA streams and pins host memory when it is installed, at start-up."""
    if zero_gpu and memory == "group_offload":
        raise ValueError(
            "memory='group_offload' cannot run on a ZeroGPU Space: it needs CUDA at start-up (streams, pinned host "
            "memory); use none or model_offload there"
        )


def create_app(args: argparse.Namespace) -> tuple[gr.Blocks, Studio]:
    """Check the vote and trial files, load the pipelines (once) and build the queued Blocks app; used by main() and
    the tests. The files are checked first: a bad --votes path fails in a second, not after loading the models."""
    check_memory_for_space(args.memory, on_zero_gpu())
    VoteStore(args.votes).open()
    TrialStore(trial_store_path(args.votes)).open()
    pipes = load_pipelines(
        preset=args.preset,
        mimir_weights=args.mimir_weights,
        memory=args.memory,
        base_model=args.base_model,
        llm=args.llm,
        fast=args.fast,
    )
    studio = Studio(
        pipes,
        votes_path=args.votes,
        study_prompts=args.study_prompts,
        out_dir=args.out_dir,
        vote_rate=(args.votes_per_minute, 60.0),
        gpu_max_seconds=args.gpu_max_seconds,
    )
    return queued(build_demo(studio)), studio


def queued(demo: gr.Blocks) -> gr.Blocks:
    """The app's queue: bounded, so a burst of jobs is refused at once ("queue is full") instead of waiting hours."""
    # Gradio rebuilds its usage summary (a pandas table of up to 10 000 past events) after every event by default:
    # work that grows with every request served and halved the vote rate by the 1000th vote. Every 100 events is
    # plenty for its monitoring page. The queue reads the setting when it is created, here.
    os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", str(ANALYTICS_EVERY))
    return demo.queue(max_size=MAX_QUEUE_SIZE)


def launch_kwargs(studio: Studio) -> dict[str, Any]:
    tracker = Middleware(TrialFileTracker, on_fetch=studio.trial_store.mark_fetched)
    return {
        "css_paths": [CSS_PATH] if CSS_PATH.exists() else None,
        "app_kwargs": {"middleware": [tracker]},
        "allowed_paths": [str(studio.outputs.root)],  # an --out-dir outside the temp folder must still be served
    }


def _stop_on_sigterm(signum: int, frame: Any) -> None:
    # Gradio's launch loop closes the server on KeyboardInterrupt (and its shutdown removes its cached files); a
    # plain SIGTERM (docker stop, a Space restart) would end the process without either.
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    try:
        demo, studio = create_app(args)
    except (VoteStoreError, TrialStoreError, ValueError) as err:
        print(f"mimir studio: {err}", file=sys.stderr)
        sys.exit(2)
    serve(demo, studio, args.host, args.port)


def serve(demo: gr.Blocks, studio: Studio, host: str, port: int) -> None:
    """Serve until Ctrl-C or SIGTERM, then remove the output folder (Gradio removes its cached copies itself)."""
    signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        demo.launch(server_name=host, server_port=port, **launch_kwargs(studio))
    finally:
        studio.outputs.remove_all()
        logger.info("removed the output folder %s", studio.outputs.root)


if __name__ == "__main__":
    main()
