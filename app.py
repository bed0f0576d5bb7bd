"""Mimir Studio: CogVideoX vs Mimir side by side, the token space (paper Fig. 7) and a blind user study.

Gradio UI only: layout, event wiring and adapters (frames -> mp4/gif, DataFrames -> tables, ValueError -> gr.Error).
The logic lives in `mimir/` (generation, token analysis, study), which never imports gradio. The pipelines are loaded
once, in `main()`, never at import.

    python app.py                                      # nano preset, CPU, offline
    python app.py --preset cogvideox-5b --mimir-weights PATH --memory model_offload

Named API endpoints (scriptable with `gradio_client`): /generate, /random_seed, /tokens, /new_trial, /vote, /results.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import os
import random
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from mimir import study, tokens


ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "prompts" / "examples"
CSS_PATH = ROOT / "assets" / "css" / "studio.css"
# The paper's prompt categories (Fig. 1, 5, 6), in its order; files in prompts/examples/<category>.txt.
EXAMPLE_CATEGORIES = ("colour", "spatial_relationship", "counting", "action_order", "appearance", "lighting")
CHOICE_LABELS = [("A", "A"), ("B", "B"), ("tie", "tie"), ("both bad", "both_bad")]
VIDEO_UPSCALE = 4
MAX_SEED = 2**32 - 1  # mimir.video.MAX_SEED; repeated here so importing app.py stays light


def _gpu(duration: int) -> Callable[[Callable], Callable]:
    """`@spaces.GPU` on Hugging Face ZeroGPU Spaces; a no-op everywhere else."""
    try:
        import spaces
    except ImportError:
        return lambda fn: fn
    return spaces.GPU(duration=duration)


def _is_oom(err: BaseException) -> bool:
    import torch

    return isinstance(err, (torch.OutOfMemoryError, MemoryError))


def user_errors(fn: Callable) -> Callable:
    """Turn input errors into gr.Error (the message names the value and the rule) and survive out-of-memory."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as err:
            raise gr.Error(str(err)) from err
        except Exception as err:
            if not _is_oom(err):
                raise
            import gc

            import torch

            # Free what the failed call held so the next request can run; the app keeps serving.
            gc.collect()
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            raise gr.Error(
                "Out of memory while generating. Try fewer frames, a smaller size or fewer steps, "
                "or start the app with --memory model_offload."
            ) from err

    return wrapper


class Studio:
    """UI adapters over the loaded pipelines; each public method backs one event and one named API endpoint."""

    def __init__(
        self,
        pipes: Any,
        votes_path: str | Path = study.DEFAULT_VOTES,
        study_prompts: str | Path | None = None,
        out_dir: str | Path | None = None,
        study_seed: int | None = None,
    ) -> None:
        import mimir

        self.pipes = pipes
        self.votes = study.VoteStore(votes_path)
        self.trials = study.TrialFactory(study.load_study_prompts(study_prompts), seed=study_seed, max_seed=MAX_SEED)
        self.registry = study.TrialRegistry()
        self.out_dir = Path(out_dir or tempfile.mkdtemp(prefix="mimir-studio-"))
        self.app_version = getattr(mimir, "__version__", "0.0.0+dev")

    # ---- helpers ---------------------------------------------------------------------------------------------------

    def header_markdown(self) -> str:
        p = self.pipes
        text = f"# Mimir Studio\n**preset** `{p.preset}` · **memory** `{p.memory}` · CogVideoX vs Mimir (CVPR 2025)"
        if not p.trained:
            text += (
                "\n\n<div class='untrained'><b>untrained</b>: the nano video models are random-initialised "
                "(no trained weights under assets/nano/). Videos are noise; the app, the token space and the "
                "study machinery still work.</div>"
            )
        return text

    def _settings(self, **kw: Any) -> Any:
        from mimir.generation import GenerationSettings
        from mimir.video import check_seed

        kw["seed"] = check_seed(_as_int("seed", kw["seed"]))
        for name in ("num_frames", "height", "width", "num_inference_steps"):
            kw[name] = _as_int(name, kw[name])
        kw["guidance_scale"] = float(kw["guidance_scale"])
        if not str(kw.get("prompt") or "").strip():
            raise ValueError("prompt '' is empty: type a prompt or pick an example")
        settings = GenerationSettings(**kw)
        settings.validate(self.pipes.limits)
        return settings

    def _save(self, frames: Any, stem: str, gif: bool = True) -> tuple[str, str | None]:
        from mimir.video import save_gif, save_mp4

        folder = self.out_dir / uuid.uuid4().hex[:12]
        folder.mkdir(parents=True, exist_ok=True)
        # 4x nearest-neighbour upscaling: nano clips are 64x64, too small to judge in a browser.
        mp4 = str(save_mp4(frames, folder / f"{stem}.mp4", upscale=VIDEO_UPSCALE))
        gif_path = str(save_gif(frames, folder / f"{stem}.gif", upscale=VIDEO_UPSCALE)) if gif else None
        return mp4, gif_path

    def _compare(self, settings: Any) -> dict[str, Any]:
        return _run_compare(self.pipes, settings)

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
        progress: gr.Progress = gr.Progress(track_tqdm=True),  # noqa: B008  (Gradio's documented idiom)
    ) -> tuple:
        """CogVideoX and Mimir for one prompt with the same seed and initial latents.

        Returns (cogvideox mp4, mimir mp4, cogvideox info, mimir info, cogvideox files, mimir files, used seed).
        """
        settings = self._settings(
            prompt=prompt,
            negative_prompt=negative_prompt or "",
            seed=seed,
            num_frames=num_frames,
            height=height,
            width=width,
            num_inference_steps=num_inference_steps,
            guidance_scale=guidance_scale,
        )
        results = self._compare(settings)
        spec = _parse_prompt(settings.prompt) if self.pipes.preset == "nano" else None
        out: dict[str, Any] = {}
        for model in study.MODELS:
            res = results[model]
            mp4, gif = self._save(res.frames, f"{model}-seed{settings.seed}")
            out[model] = (mp4, _result_markdown(study.MODEL_LABELS[model], res, spec), [mp4, gif])
        cog, mim = out["cogvideox"], out["mimir"]
        return cog[0], mim[0], cog[1], mim[1], cog[2], mim[2], settings.seed

    # ---- Token space tab -------------------------------------------------------------------------------------------

    @user_errors
    def token_space(self, prompts_text: str, answer_prompt: str, k: float, perplexity: float, seed: float) -> tuple:
        """Fig. 7 a-d for the user's prompts. Returns 4 plotly figures, the value-range table, volatility, answers."""
        prompts = (prompts_text or "").splitlines()
        space = tokens.token_space(
            self.pipes.mimir,
            prompts,
            answer_prompt=answer_prompt,
            k=_as_int("K", k),
            perplexity=float(perplexity),
            seed=_as_int("seed", seed),
        )
        figs = [tokens.figure(space.panels[key]) for key in "abcd"]
        answers = "\n".join(f"{i + 1}. {a}" for i, a in enumerate(space.answers)) or "(no answers)"
        answers_md = f"**Sampled answers (panel b)**\n\n{answers}\n\n" + "  \n".join(f"_{n}_" for n in space.notes)
        return (*figs, space.stats, space.volatility, answers_md)

    # ---- User study tab --------------------------------------------------------------------------------------------

    @user_errors
    def new_trial(self, own_prompt: str, progress: gr.Progress = gr.Progress(track_tqdm=True)) -> tuple:  # noqa: B008
        """A blind trial: the next study prompt (or `own_prompt`), a random seed, random sides.

        Returns (trial id, prompt, seed, video A, video B, status, vote button update, reveal text, ended state).
        """
        d = self.pipes.defaults
        settings_dict = {
            "negative_prompt": "",
            **{k: d[k] for k in ("num_frames", "height", "width", "num_inference_steps", "guidance_scale")},
        }
        trial = self.trials.new_trial(settings_dict, prompt=own_prompt, seed=None, preset=self.pipes.preset)
        settings = self._settings(prompt=trial.prompt, seed=trial.seed, **settings_dict)
        results = self._compare(settings)
        trial.seconds_left = results[trial.model_left].seconds
        trial.seconds_right = results[trial.model_right].seconds
        # Neutral file names: a name like "mimir.mp4" would reveal the side in the page or the download.
        video_a, _ = self._save(results[trial.model_left].frames, f"trial-{trial.trial_id}-A", gif=False)
        video_b, _ = self._save(results[trial.model_right].frames, f"trial-{trial.trial_id}-B", gif=False)
        self.registry.add(trial)
        status = "Play both videos to the end, then vote on each criterion."
        return (
            trial.trial_id,
            trial.prompt,
            trial.seed,
            video_a,
            video_b,
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
        rows = study.vote_rows(trial, ballot, session_id=_session_id(request), app_version=self.app_version)
        self.votes.append(rows)  # vote_rows validated every choice first: nothing is written on bad input
        trial.voted = True
        return f"**Thanks, vote recorded.** {trial.reveal()}", gr.update(interactive=False)

    # ---- Results tab -----------------------------------------------------------------------------------------------

    @user_errors
    def results(self) -> tuple:
        """Table 2 layout, Bradley-Terry strengths with 95% CI, counts, a BT plot and the CSV for download."""
        rep = study.report(self.votes.read())
        csv_path = str(self.votes.path) if self.votes.path.exists() else None
        summary = f"**{rep.n_votes} votes** from **{rep.n_trials} trials** in `{self.votes.path}`.  \n" + " ".join(
            rep.notes
        )
        return summary, rep.table2, rep.bradley_terry, rep.counts, _bt_figure(rep.bradley_terry), csv_path


# ---- adapters and module-level GPU functions (ZeroGPU wants plain functions) --------------------------------------


@_gpu(duration=240)
def _run_compare(pipes: Any, settings: Any) -> dict[str, Any]:
    from mimir.generation import compare

    return compare(pipes, settings)


def _as_int(name: str, value: Any) -> int:
    """Gradio numbers arrive as floats; refuse fractions and non-numbers instead of rounding them silently."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name}={value!r} is not a number") from None
    if f != int(f):
        raise ValueError(f"{name}={value!r} must be a whole number")
    return int(f)


def _session_id(request: gr.Request | None) -> str:
    """Anonymous: a short hash of Gradio's per-tab session hash, never an IP or a name."""
    raw = getattr(request, "session_hash", None) or "anonymous"
    return hashlib.sha256(raw.encode()).hexdigest()[:12]


def _parse_prompt(prompt: str) -> Any:
    """The prompt's nano-world scene spec, or None when it does not parse (or NanoBench is not available)."""
    try:
        from mimir.world.captions import parse_prompt
    except ImportError:
        return None
    try:
        return parse_prompt(prompt)
    except ValueError:
        return None


def _score(frames: Any, spec: Any) -> dict[str, Any] | None:
    try:
        from mimir.bench import score_video
    except ImportError:
        try:
            from mimir.bench.scorer import score_video
        except ImportError:
            return None
    return score_video(frames, spec)


def _result_markdown(label: str, res: Any, spec: Any) -> str:
    """Seconds, peak memory and (nano, parsed prompt) NanoBench verdicts of one result."""
    mem = res.peak_memory_bytes
    mem_text = f"{mem / 2**20:.0f} MiB" if mem else "n/a"
    lines = [f"**{label}** · {res.seconds:.1f} s · peak memory {mem_text}"]
    if spec is None:
        lines.append("NanoBench: prompt not in the nano-world vocabulary, no verdicts.")
        return "\n\n".join(lines)
    verdicts = _score(res.frames, spec)
    if verdicts is None:
        return "\n\n".join(lines)
    mark = {True: "pass", False: "FAIL"}  # words, not emoji: headless browsers often lack an emoji font
    checks = " · ".join(f"{name} {mark[bool(v)]}" for name, v in verdicts.get("checks", {}).items())
    lines.append(f"NanoBench `{verdicts.get('dimension')}`: {mark[bool(verdicts.get('pass'))]}  \n{checks}")
    return "\n\n".join(lines)


def _bt_figure(bt: Any) -> Any:
    """Bradley-Terry strengths with their 95% bootstrap intervals, one group per criterion."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for model in bt["model"].unique():
        rows = bt[bt["model"] == model]
        fig.add_trace(
            go.Bar(
                x=rows["criterion"],
                y=rows["strength"],
                name=model,
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": rows["ci_high"] - rows["strength"],
                    "arrayminus": rows["strength"] - rows["ci_low"],
                },
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis={"range": [0, 1], "title": "Bradley-Terry strength (P preferred)"},
        height=360,
        margin={"l": 50, "r": 10, "t": 30, "b": 40},
    )
    return fig


def load_examples(folder: Path = EXAMPLES_DIR) -> dict[str, list[str]]:
    """Example prompts per category, paper order first, then any other file in the folder."""
    files = {p.stem: p for p in sorted(folder.glob("*.txt"))}
    order = [c for c in EXAMPLE_CATEGORIES if c in files] + [c for c in files if c not in EXAMPLE_CATEGORIES]
    return {c: study.load_prompt_file(files[c]) for c in order}


# ---- layout ------------------------------------------------------------------------------------------------------


def build_demo(studio: Studio) -> gr.Blocks:
    """The four tabs and their wiring. Every event with an `api_name` is a named API endpoint."""
    d, lim = studio.pipes.defaults, studio.pipes.limits
    steps_lo, steps_hi = lim.get("num_inference_steps", (1, 100))
    g_lo, g_hi = lim.get("guidance_scale", (1.0, 20.0))
    examples = load_examples()

    with gr.Blocks(title="Mimir Studio") as demo:
        gr.Markdown(studio.header_markdown(), elem_id="header")

        with gr.Tab("Compare", id="compare"):
            with gr.Row():
                with gr.Column(scale=2):
                    prompt = gr.Textbox(label="prompt", lines=2, value=next(iter(examples.values()), [""])[0])
                    negative_prompt = gr.Textbox(label="negative_prompt", lines=1)
                with gr.Column(scale=1):
                    with gr.Row():
                        # No min/max here: check_seed's error names the parameter, Gradio's would not.
                        seed = gr.Number(label=f"seed (0..{MAX_SEED})", value=0, precision=0)
                        random_seed = gr.Button("random seed", size="sm", elem_id="random-seed")
                    used_seed = gr.Number(label="used seed", interactive=False, precision=0)
            with gr.Accordion("settings", open=False):
                with gr.Row():
                    num_frames = gr.Dropdown(lim["num_frames"], value=d["num_frames"], label="num_frames")
                    height = gr.Dropdown(lim["height"], value=d["height"], label="height")
                    width = gr.Dropdown(lim["width"], value=d["width"], label="width")
                with gr.Row():
                    steps = gr.Slider(
                        steps_lo,
                        min(steps_hi, 100),
                        value=d["num_inference_steps"],
                        step=1,
                        label="num_inference_steps",
                    )
                    guidance = gr.Slider(g_lo, g_hi, value=d["guidance_scale"], step=0.5, label="guidance_scale")
            generate_btn = gr.Button("Generate both", variant="primary", elem_id="generate")
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
                    lines=4,
                    value="\n".join([p[0] for p in list(examples.values())[:4]]),
                )
                with gr.Column():
                    answer_prompt = gr.Textbox(label="prompt for (b) — empty: the first prompt")
                    k = gr.Slider(*tokens.K_RANGE, value=4, step=1, label="K answer samples (b)")
                    perplexity = gr.Slider(*tokens.PERPLEXITY_RANGE, value=10, step=1, label="t-SNE perplexity")
                    token_seed = gr.Number(label="answer sampling seed", value=0, precision=0)
            tokens_btn = gr.Button("Compute token space", variant="primary", elem_id="tokens-run")
            with gr.Row():
                plot_a, plot_b = gr.Plot(label="(a)"), gr.Plot(label="(b)")
            with gr.Row():
                plot_c, plot_d = gr.Plot(label="(c)"), gr.Plot(label="(d)")
            stats = gr.Dataframe(label="per-source value ranges and token norms", interactive=False)
            with gr.Row():
                vol = gr.Dataframe(label="volatility across K runs (b)", interactive=False)
                answers = gr.Markdown()

        with gr.Tab("User study", id="study"):
            gr.Markdown(
                "Blind pairwise study (paper Table 2). The same prompt and seed through both models; which is "
                "A and which is B is random per trial. Play **both videos to the end** to unlock the vote."
            )
            with gr.Row():
                own_prompt = gr.Textbox(label="your own prompt (empty: the study list)", scale=3)
                trial_btn = gr.Button("New trial", variant="primary", elem_id="new-trial", scale=1)
            with gr.Row():
                trial_id = gr.Textbox(label="trial id", interactive=False, elem_id="trial-id")
                trial_prompt = gr.Textbox(label="prompt", interactive=False)
                trial_seed = gr.Number(label="seed", interactive=False, precision=0)
            with gr.Row():
                video_a = gr.Video(label="Video A", elem_id="video-a", loop=False, autoplay=False)
                video_b = gr.Video(label="Video B", elem_id="video-b", loop=False, autoplay=False)
            trial_status = gr.Markdown(elem_id="trial-status")
            with gr.Row():
                v_if = gr.Radio(CHOICE_LABELS, label="Instruction following", elem_id="vote-instruction")
                v_ph = gr.Radio(CHOICE_LABELS, label="Physics", elem_id="vote-physics")
                v_vq = gr.Radio(CHOICE_LABELS, label="Visual quality", elem_id="vote-quality")
            vote_btn = gr.Button("Submit vote", variant="primary", interactive=False, elem_id="submit-vote")
            reveal = gr.Markdown(elem_id="reveal")
            ended = gr.State({"a": False, "b": False})

        with gr.Tab("Results", id="results") as results_tab:
            refresh = gr.Button("Refresh", elem_id="refresh-results")
            summary = gr.Markdown(elem_id="results-summary")
            table2 = gr.Dataframe(label="Table 2 layout: % of votes per criterion", interactive=False)
            bt = gr.Dataframe(label="Bradley-Terry strengths, bootstrap 95% CI", interactive=False)
            bt_plot = gr.Plot(label="Bradley-Terry")
            counts = gr.Dataframe(label="vote counts", interactive=False)
            csv_file = gr.File(label="votes CSV")

        # ---- wiring -----------------------------------------------------------------------------------------------
        random_seed.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_name="random_seed", queue=False)
        generate_btn.click(
            studio.generate,
            inputs=[prompt, negative_prompt, seed, num_frames, height, width, steps, guidance],
            outputs=[video_cog, video_mimir, info_cog, info_mimir, files_cog, files_mimir, used_seed],
            api_name="generate",
        )
        tokens_btn.click(
            studio.token_space,
            inputs=[token_prompts, answer_prompt, k, perplexity, token_seed],
            outputs=[plot_a, plot_b, plot_c, plot_d, stats, vol, answers],
            api_name="tokens",
        )
        trial_btn.click(
            studio.new_trial,
            inputs=[own_prompt],
            outputs=[trial_id, trial_prompt, trial_seed, video_a, video_b, trial_status, vote_btn, reveal, ended],
            api_name="new_trial",
        ).then(lambda: (None, None, None), outputs=[v_if, v_ph, v_vq], api_visibility="private")

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
        vote_btn.click(studio.vote, inputs=[trial_id, v_if, v_ph, v_vq], outputs=[reveal, vote_btn], api_name="vote")

        results_outputs = [summary, table2, bt, counts, bt_plot, csv_file]
        refresh.click(studio.results, outputs=results_outputs, api_name="results")
        results_tab.select(studio.results, outputs=results_outputs, api_visibility="private")
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
        "--memory", default=env("MIMIR_MEMORY", "none"), help="none, model_offload or sequential_offload (GPU)"
    )
    parser.add_argument("--votes", default=env("MIMIR_VOTES", str(study.DEFAULT_VOTES)), help="vote CSV (appended)")
    parser.add_argument("--study-prompts", default=env("MIMIR_STUDY_PROMPTS"), help="study prompt list, one per line")
    parser.add_argument("--port", type=int, default=int(env("GRADIO_SERVER_PORT", "7860")))
    parser.add_argument("--host", default=env("GRADIO_SERVER_NAME", "127.0.0.1"))
    return parser.parse_args(argv)


def create_app(args: argparse.Namespace) -> gr.Blocks:
    """Load the pipelines (once) and build the queued Blocks app; used by main() and the tests."""
    from mimir.presets import load_pipelines

    pipes = load_pipelines(preset=args.preset, mimir_weights=args.mimir_weights, memory=args.memory)
    studio = Studio(pipes, votes_path=args.votes, study_prompts=args.study_prompts)
    # One generation at a time: one GPU (or two CPU cores) cannot run two videos faster than one after the other.
    return build_demo(studio).queue(default_concurrency_limit=1)


def launch_kwargs() -> dict[str, Any]:
    return {"css_paths": [CSS_PATH] if CSS_PATH.exists() else None}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    demo = create_app(args)
    demo.launch(server_name=args.host, server_port=args.port, **launch_kwargs())


if __name__ == "__main__":
    main()
