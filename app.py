"""Mimir Studio: CogVideoX vs Mimir side by side, the token space (paper Fig. 7) and a blind user study.

Gradio UI only: layout, event wiring and adapters (widget values -> call arguments, frames -> mp4/gif, ValueError ->
gr.Error). The logic lives in `mimir/` (generation, token analysis, study), which never imports gradio; every input
rule lives in the pipeline's `check_inputs`, and the app only shows its errors. UI policy (slider ranges) lives here.
The pipelines are loaded once, in `main()`, never at import.

    python app.py                                      # nano preset, CPU, offline
    python app.py --preset cogvideox-5b --mimir-weights PATH --memory model_offload
    python app.py --preset cogvideox-5b --base-model DIR --llm DIR --mimir-weights PATH   # local copies

Named API endpoints (scriptable with `gradio_client`): /generate, /random_seed, /tokens, /new_trial, /vote, /results.
"""

from __future__ import annotations

import argparse
import functools
import gc
import hashlib
import html
import logging
import os
import random
import tempfile
import traceback
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr
import torch

import mimir
from mimir import tokens
from mimir.bench import score_video
from mimir.generation import GenerationResult, GenerationSettings, StepProgress, compare
from mimir.presets import StudioPipelines, load_pipelines
from mimir.study import analysis, trials, votes
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
# Progress labels of a blind trial: by generation order only, since naming the model (or its side) would unblind it.
TRIAL_PROGRESS_LABELS = {"cogvideox": "video 1 of 2", "mimir": "video 2 of 2"}


def _gpu(duration: int) -> Callable[[Callable], Callable]:
    """`@spaces.GPU` on Hugging Face ZeroGPU Spaces; a no-op everywhere else."""
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
        except (torch.OutOfMemoryError, MemoryError):
            # Free what the failed call held so the next request can run; the app keeps serving.
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            logger.error("%s ran out of memory", fn.__name__)
            raise gr.Error(
                "Out of memory while generating. Try fewer frames, a smaller size or fewer steps, "
                "or start the app with --memory model_offload.",
                print_exception=False,
            ) from None

    return wrapper


def _refused_quietly(component: gr.components.Component, preprocess: Callable, payload: Any) -> Any:
    """Run a widget's own check (an API client can send any value): a refusal names the parameter and logs one line,
    where Gradio's own error would print a traceback."""
    try:
        return preprocess(payload)
    except gr.Error as err:
        logger.warning("%s refused: %s", component.label, err.message)
        raise gr.Error(f"{component.label}: {err.message}", title="Input refused", print_exception=False) from None


class Slider(gr.Slider):
    """gr.Slider (same page component) whose range check refuses like every other input."""

    def get_block_name(self) -> str:
        return "slider"

    def preprocess(self, payload: float) -> float:
        return _refused_quietly(self, super().preprocess, payload)


class Dropdown(gr.Dropdown):
    """gr.Dropdown (same page component) whose choice check refuses like every other input."""

    def get_block_name(self) -> str:
        return "dropdown"

    def preprocess(self, payload: Any) -> Any:
        return _refused_quietly(self, super().preprocess, payload)


class Radio(gr.Radio):
    """gr.Radio (same page component) whose choice check refuses like every other input."""

    def get_block_name(self) -> str:
        return "radio"

    def preprocess(self, payload: Any) -> Any:
        return _refused_quietly(self, super().preprocess, payload)


class Studio:
    """UI adapters over the loaded pipelines; each public method backs one event and one named API endpoint."""

    def __init__(
        self,
        pipes: StudioPipelines,
        votes_path: str | Path = votes.DEFAULT_VOTES,
        study_prompts: str | Path | None = None,
        out_dir: str | Path | None = None,
        study_seed: int | None = None,
    ) -> None:
        self.pipes = pipes
        self.votes = votes.VoteStore(votes_path)
        self.trials = trials.TrialFactory(trials.load_study_prompts(study_prompts), seed=study_seed, max_seed=MAX_SEED)
        self.registry = trials.TrialRegistry()
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="mimir-studio-"))
        self.app_version = mimir.__version__

    # ---- helpers ---------------------------------------------------------------------------------------------------

    def header_markdown(self) -> str:
        p = self.pipes
        text = f"# Mimir Studio\n**preset** `{p.preset}` · **memory** `{p.memory}` · CogVideoX vs Mimir (CVPR 2025)"
        if not p.trained:
            text += (
                "\n\n<div class='untrained'><b>untrained</b>: the nano video models are random-initialised "
                "(no trained weights under mimir/assets/nano/). Videos are noise; the app, the token space and the "
                "study machinery still work.</div>"
            )
        return text

    def _folder(self) -> Path:
        """A new folder for one event's files; created by the first file written, so a refused input leaves none."""
        return self.out_dir / uuid.uuid4().hex[:12]

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
        results = _run_compare(self.pipes, settings, _step_progress(progress, votes.MODEL_LABELS))
        spec = _parse_prompt(settings.prompt) if self.pipes.preset == "nano" else None
        out: dict[str, Any] = {}
        for model, res in results.items():
            mp4, gif = self._save(res.frames, f"{model}-seed{settings.seed}")
            verdicts = None if spec is None else score_video(res.frames, spec)
            info = _result_markdown(votes.MODEL_LABELS[model], res, verdicts, nano=self.pipes.preset == "nano")
            out[model] = (mp4, info, [mp4, gif])
        cog, mim = out["cogvideox"], out["mimir"]
        return cog[0], mim[0], cog[1], mim[1], cog[2], mim[2], settings.seed

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
        space = tokens.token_space(
            self.pipes.mimir,
            (prompts_text or "").splitlines(),
            answer_prompt=answer_prompt,
            k=_as_int("K", k),
            perplexity=_as_float("perplexity", perplexity),
            seed=_as_int("seed", seed),
            progress=lambda fraction, stage: progress(fraction, desc=stage),
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
            run=_run_compare,
            progress=_step_progress(progress, TRIAL_PROGRESS_LABELS),
        )
        self.registry.add(trial)
        seconds = trial.settings["num_frames"] / made.fps
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
        """Record one ballot (three criteria), then reveal which model was which. Returns (reveal, button update)."""
        trial = self.registry.get(trial_id)
        if trial.voted:
            raise ValueError(f"trial {trial_id!r} already has a vote: start a new trial")
        ballot = {"instruction_following": instruction_following, "physics": physics, "visual_quality": visual_quality}
        rows = votes.vote_rows(trial, ballot, session_id=_session_id(request), app_version=self.app_version)
        self.votes.append(rows)  # vote_rows checked the whole ballot first: nothing is written on bad input
        trial.voted = True
        return f"**Thanks, vote recorded.** {trial.reveal()}", gr.update(interactive=False)

    # ---- Results tab -----------------------------------------------------------------------------------------------

    @user_errors
    def results(self) -> tuple:
        """Table 2 layout, Bradley-Terry strengths with 95% CI, counts, a BT plot and the CSV for download."""
        rep = analysis.report(self.votes.read())
        csv_path = str(self.votes.path) if self.votes.path.exists() else None
        summary = f"**{rep.n_votes} votes** from **{rep.n_trials} trials** in `{self.votes.path}`.  \n" + " ".join(
            rep.notes
        )
        figure = analysis.bradley_terry_figure(rep.bradley_terry)
        return summary, rep.table2, rep.bradley_terry, rep.counts, figure, csv_path


# ---- adapters and module-level GPU functions (ZeroGPU wants plain functions) --------------------------------------


@_gpu(duration=240)
def _run_compare(
    pipes: StudioPipelines, settings: GenerationSettings, progress: StepProgress | None = None
) -> dict[str, GenerationResult]:
    return compare(pipes, settings, progress)


def _step_progress(progress: gr.Progress, labels: dict[str, str]) -> StepProgress:
    """One bar per generation, labelled with the model (or a neutral label) and its step: "Mimir 12/20"."""

    def report(model: str, step: int, total: int) -> None:
        progress(step / total, desc=f"{labels[model]} {step}/{total}")

    return report


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

    The verdict on the whole spec comes first (it passes only when every check passes), then each check.
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
    lines.append(
        f"NanoBench spec ({verdicts['dimension']}): **{overall}**, {passed} of {len(checks)} checks pass  \n{each}"
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
    prompt_limit = f"at most {supported.max_prompt_tokens} tokens; a longer prompt is refused, never cut"
    # Model events: one queue slot for all of them. Progress and errors show in one status line per tab, so a
    # refused input neither clears earlier results nor badges every output box with "Error".
    model_event = {"concurrency_id": MODEL_QUEUE, "concurrency_limit": 1}

    with gr.Blocks(title="Mimir Studio") as demo:
        gr.Markdown(studio.header_markdown(), elem_id="header")

        with gr.Tab("Compare", id="compare"):
            with gr.Row():
                with gr.Column(scale=2):
                    prompt = gr.Textbox(
                        label="prompt",
                        info=prompt_limit,
                        lines=2,
                        value=next(iter(examples.values()), [""])[0],
                        elem_id="prompt",
                    )
                    negative_prompt = gr.Textbox(label="negative_prompt", info=prompt_limit, lines=1)
                with gr.Column(scale=1):
                    with gr.Row():
                        # No min/max and no precision: the app's own check names the parameter and refuses 1.5
                        # (precision=0 would round it to 2 before the app sees it).
                        seed = gr.Number(label=f"seed (0..{MAX_SEED})", value=0, elem_id="seed")
                        random_seed = gr.Button("random seed", size="sm", elem_id="random-seed")
                    used_seed = gr.Number(label="used seed", interactive=False, precision=0, elem_id="used-seed")
            with gr.Accordion("settings", open=False):
                with gr.Row():
                    num_frames = Dropdown(list(supported.num_frames), value=d["num_frames"], label="num_frames")
                    height = Dropdown(list(supported.height), value=d["height"], label="height")
                    width = Dropdown(list(supported.width), value=d["width"], label="width")
                with gr.Row():
                    steps = Slider(
                        steps_lo,
                        min(steps_hi, MAX_UI_STEPS),
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
                token_prompts = gr.Textbox(
                    label="prompts for (a), (c), (d) — one per line",
                    info=f"each {prompt_limit}",
                    lines=4,
                    value="\n".join([p[0] for p in list(examples.values())[:4]]),
                )
                with gr.Column():
                    answer_prompt = gr.Textbox(label="prompt for (b) — empty: the first prompt", info=prompt_limit)
                    k = Slider(*tokens.K_RANGE, value=4, step=1, label="K answer samples (b)", elem_id="tokens-k")
                    perplexity = Slider(*tokens.PERPLEXITY_RANGE, value=10, step=1, label="t-SNE perplexity")
                    token_seed = gr.Number(label="answer sampling seed", value=0, elem_id="token-seed")
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
                "A and which is B is random per trial. Play **both videos to the end** to unlock the vote."
            )
            with gr.Row():
                own_prompt = gr.Textbox(
                    label="your own prompt (empty: the study list)", info=prompt_limit, scale=3, elem_id="own-prompt"
                )
                trial_btn = gr.Button("New trial", variant="primary", elem_id="new-trial", scale=1)
            with gr.Row():
                trial_id = gr.Textbox(label="trial id", interactive=False, elem_id="trial-id")
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
        vote_btn.click(
            studio.vote,
            inputs=[trial_id, v_if, v_ph, v_vq],
            outputs=[reveal, vote_btn],
            api_name="vote",
            show_progress_on=reveal,
        )

        results_outputs = [summary, table2, bt, counts, bt_plot, csv_file]
        refresh.click(studio.results, outputs=results_outputs, api_name="results", show_progress_on=summary)
        results_tab.select(studio.results, outputs=results_outputs, api_visibility="private", show_progress_on=summary)
    return demo


# ---- entry point -------------------------------------------------------------------------------------------------


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
    parser.add_argument("--votes", default=env("MIMIR_VOTES", str(votes.DEFAULT_VOTES)), help="vote CSV (appended)")
    parser.add_argument("--study-prompts", default=env("MIMIR_STUDY_PROMPTS"), help="study prompt list, one per line")
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"))
    return parser.parse_args(argv)


def create_app(args: argparse.Namespace) -> gr.Blocks:
    """Load the pipelines (once) and build the queued Blocks app; used by main() and the tests."""
    pipes = load_pipelines(
        preset=args.preset,
        mimir_weights=args.mimir_weights,
        memory=args.memory,
        base_model=args.base_model,
        llm=args.llm,
    )
    studio = Studio(pipes, votes_path=args.votes, study_prompts=args.study_prompts)
    return build_demo(studio).queue()


def launch_kwargs() -> dict[str, Any]:
    return {"css_paths": [CSS_PATH] if CSS_PATH.exists() else None}


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    demo = create_app(args)
    demo.launch(server_name=args.host, server_port=args.port, **launch_kwargs())


if __name__ == "__main__":
    main()
