"""Mimir Studio: CogVideoX vs Mimir side by side, the token space (paper Fig. 7) and a blind user study.

Layout and event wiring only. What the app does lives in the gradio-free `mimir.studio.Studio` (one call per event);
the checked widgets, error display and queue policy are Gradio adapters in `ui.py`. The pipelines are loaded once,
in `main()`, never at import.

    python app.py                                      # nano preset, CPU, offline
    python app.py --preset cogvideox-5b --mimir-weights PATH --memory model_offload
    python app.py --fast                               # step cache (+ torch.compile on CUDA); MIMIR_FAST=on on a Space

Named API endpoints (scriptable with `gradio_client`): /generate, /random_seed, /tokens, /new_trial, /vote, /results.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import random
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gradio as gr

import ui
from mimir import tokens
from mimir.outputs import MAX_AGE_SECONDS
from mimir.pair import MODELS
from mimir.studio.config import StudioConfig, add_app_args, add_model_args
from mimir.studio.examples import load_examples
from mimir.studio.service import Studio
from mimir.study import analysis, votes
from mimir.study.trial_store import TrialStoreError
from mimir.study.vote_store import VoteStoreError
from mimir.video import MAX_SEED


logger = logging.getLogger("mimir.app")

ROOT = Path(__file__).resolve().parent
EXAMPLES_DIR = ROOT / "prompts" / "examples"
CSS_PATH = ROOT / "assets" / "css" / "studio.css"
NUMBERS_PATH = (
    ROOT / "benchmarks" / "NANOBENCH.md"
)  # the nano models' measured text faithfulness, linked in the header
FILE_ROUTE = "/gradio_api/file="  # Gradio's route for the files in `allowed_paths`
# UI policy, not model rules: the pipeline accepts any guidance >= 0 and up to num_train_timesteps steps; the sliders
# offer the range where CogVideoX-style guidance and step counts make sense interactively.
GUIDANCE_RANGE = (1.0, 20.0)
MAX_UI_STEPS = 100
# Gradio's own copies of served files (its cache) are swept as often and kept as long as the app's folder.
CACHE_SWEEP_SECONDS = 600


def handlers(studio: Studio) -> SimpleNamespace:
    """The event handlers: widget values -> one studio call -> widget values (errors -> gr.Error, ui.user_errors)."""

    @ui.user_errors
    def generate(prompt, negative_prompt, seed, num_frames, height, width, steps, guidance, progress=gr.Progress()):
        settings = studio.settings(
            prompt, negative_prompt, seed, num_frames=num_frames, height=height, width=width,
            num_inference_steps=steps, guidance_scale=guidance,
        )  # fmt: skip
        pair = studio.generate_pair(settings, ui.bar(progress), ui.request_alive())
        cog, mim = (pair.outputs[m] for m in MODELS)
        # Each result names its prompt: after a refused new prompt, the videos below still say whose they are.
        made_for = f"\n\n_made for “{html.escape(settings.prompt)}”, seed {settings.seed}_"
        return cog.video, mim.video, cog.info + made_for, mim.info + made_for, cog.files, mim.files, settings.seed

    @ui.user_errors
    def token_space(prompts_text, answer_prompt, k, perplexity, seed, progress=gr.Progress()):
        run = (ui.bar(progress), ui.request_alive())
        out = studio.token_space(prompts_text, answer_prompt, k, perplexity, seed, *run)
        return (*out.figures, out.stats, out.volatility, out.answers)

    @ui.user_errors
    def new_trial(own_prompt: str, request: gr.Request, progress=gr.Progress()):
        t = studio.new_trial(own_prompt, ui.client_of(request), ui.bar(progress), ui.request_alive())
        locked = gr.update(interactive=False)  # the vote button, until both videos played to the end
        return t.trial_id, t.prompt, t.seed, t.video_a, t.video_b, t.status, locked, "", ui.UNWATCHED

    @ui.user_errors
    def vote(trial_id, instruction_following, physics, visual_quality, request: gr.Request):
        ballot = {"instruction_following": instruction_following, "physics": physics, "visual_quality": visual_quality}
        return studio.vote(trial_id, ballot, ui.client_of(request)), gr.update(interactive=False)

    @ui.user_errors
    def results():
        r = studio.results()
        return r.summary, r.table2, r.bradley_terry, r.counts, r.figure, r.csv_path

    return SimpleNamespace(
        generate=generate, token_space=token_space, new_trial=new_trial, vote=vote, results=results, ended=ui.ended
    )


def build_demo(studio: Studio, analytics: bool = False) -> gr.Blocks:
    """The four tabs and their wiring. Every event with an `api_name` is a named API endpoint."""
    d = studio.pipes.defaults
    supported = studio.pipes.mimir.supported_inputs
    steps_lo, steps_hi = supported.num_inference_steps
    examples = load_examples(EXAMPLES_DIR)
    # The first example of the first category (unseen wordings, drawn by the rule in its file): the prompt box's
    # default, the README screenshot's prompt, and what an out-of-world note offers to try.
    studio.try_example = first = next(iter(examples.values()), [""])[0]
    choices = [(label, value) for value, label in votes.CHOICE_LABELS.items()]
    prompt_limit = studio.prompt_limit()  # stated where a prompt is typed
    # Model events: one queue slot for all of them. Progress and errors show in one status line per tab, so a
    # refused input neither clears earlier results nor badges every output box with "Error".
    model_event = {"concurrency_id": ui.MODEL_QUEUE, "concurrency_limit": 1}

    h = handlers(studio)

    # Gradio keeps its own copy of every served file, in the folder its components read from GRADIO_TEMP_DIR when
    # they are built: point it into the app's folder, so those copies are swept and removed with it.
    os.environ["GRADIO_TEMP_DIR"] = str(studio.outputs.cache)
    sweep = (CACHE_SWEEP_SECONDS, int(MAX_AGE_SECONDS))
    with ui.StudioBlocks(title="Mimir Studio", delete_cache=sweep, analytics_enabled=analytics) as demo:
        numbers = f" [The numbers]({FILE_ROUTE}{NUMBERS_PATH})." if studio.nano and NUMBERS_PATH.exists() else ""
        gr.Markdown(studio.header_markdown() + numbers, elem_id="header")

        with gr.Tab("Compare", id="compare"):
            with gr.Row():
                with gr.Column(scale=2):
                    prompt = ui.Textbox(label="prompt", info=prompt_limit, lines=2, value=first, elem_id="prompt")
                    negative_prompt = ui.Textbox(label="negative_prompt", info=prompt_limit, lines=1)
                with gr.Column(scale=1):
                    with gr.Row():
                        # No min/max and no precision: the app's own check names the parameter and refuses 1.5
                        # (precision=0 would round it to 2 before the app sees it).
                        seed_rule = f"a whole number in 0..{MAX_SEED}"
                        seed = ui.Number(label="seed", info=seed_rule, value=0, elem_id="seed")
                        random_seed = gr.Button("random seed", size="sm", elem_id="random-seed")
                    # The API's used seed is a number; the page shows it in words (a gr.Number shows 0 before any run).
                    used_seed = gr.Number(label="used seed", visible=False, precision=0)
                    used_seed_text = gr.Markdown("**used seed**: none yet", elem_id="used-seed")
            with gr.Accordion("settings", open=False):
                with gr.Row():
                    num_frames = ui.Dropdown(list(supported.num_frames), value=d["num_frames"], label="num_frames")
                    height = ui.Dropdown(list(supported.height), value=d["height"], label="height")
                    width = ui.Dropdown(list(supported.width), value=d["width"], label="width")
                with gr.Row():
                    steps = ui.IntSlider(
                        steps_lo, min(steps_hi, MAX_UI_STEPS), value=d["num_inference_steps"], step=1,
                        label="num_inference_steps",
                    )  # fmt: skip
                    guidance = ui.Slider(*GUIDANCE_RANGE, value=d["guidance_scale"], step=0.5, label="guidance_scale")
            generate_btn = gr.Button("Generate both", variant="primary", elem_id="generate")
            generate_status = gr.Markdown(elem_id="generate-status", elem_classes="status-line")
            try_btn = gr.Button(f"Try: {first}", visible=False, size="sm", elem_id="try-example")
            # The two videos stay side by side, each with its verdicts, at any width (studio.css); files below both.
            with gr.Row(elem_id="pair", equal_height=False):
                with gr.Column(min_width=120):
                    video_cog = gr.Video(label="CogVideoX", elem_id="video-cogvideox", autoplay=True, loop=True)
                    info_cog = gr.Markdown(elem_id="info-cogvideox")
                with gr.Column(min_width=120):
                    video_mimir = gr.Video(label="Mimir", elem_id="video-mimir", autoplay=True, loop=True)
                    info_mimir = gr.Markdown(elem_id="info-mimir")
            with gr.Accordion("downloads (mp4, gif)", open=False), gr.Row():
                files_cog = gr.File(label="download CogVideoX (mp4, gif)", file_count="multiple")
                files_mimir = gr.File(label="download Mimir (mp4, gif)", file_count="multiple")
            with gr.Accordion("examples by category", open=True):
                for category, prompts in examples.items():
                    gr.Examples([[p] for p in prompts], inputs=[prompt], label=category.replace("_", " ").capitalize())

        with gr.Tab("Tokens", id="tokens"):
            gr.Markdown(
                "Where the text tokens live (paper Fig. 7): t-SNE of the encoder branch, the LLM branch and the "
                "fused condition. Hover a point for its token, source and norm; click a legend entry to hide a source."
            )
            with gr.Row():
                token_prompts = ui.Textbox(
                    label="prompts for (a), (c), (d) — one per line",
                    info=f"at most {tokens.MAX_PROMPTS} prompts; each {prompt_limit}",
                    lines=4,
                    value="\n".join([p[0] for p in list(examples.values())[:4]]),
                )
                with gr.Column():
                    answer_prompt = ui.Textbox(label="prompt for (b) — empty: the first prompt", info=prompt_limit)
                    k = ui.IntSlider(
                        *tokens.K_RANGE, value=4, step=1, label="K answer samples (b)", elem_id="tokens-k"
                    )
                    perplexity = ui.Slider(*tokens.PERPLEXITY_RANGE, value=10, step=1, label="t-SNE perplexity")
                    token_seed = ui.Number(label="answer sampling seed", value=0, elem_id="token-seed")
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

        with gr.Tab("Study", id="study"):
            gr.Markdown(
                "Blind pairwise study (paper Table 2). The same prompt and seed through both models; which is "
                "A and which is B is random per trial. Play **both videos to the end** to unlock the vote: the server "
                "counts a vote once both videos were sent to you whole and the time to play both has passed."
                + (f"\n\n**Note for the organiser:** {studio.persistence_note}" if studio.persistence_note else "")
            )
            with gr.Row():
                own_prompt = ui.Textbox(
                    label="your own prompt (empty: the study list)", info=prompt_limit, scale=3, elem_id="own-prompt"
                )
                trial_btn = gr.Button("New trial", variant="primary", elem_id="new-trial", scale=1)
            with gr.Row():
                trial_id = ui.Textbox(label="trial id", interactive=False, elem_id="trial-id")
                trial_prompt = gr.Textbox(label="prompt", interactive=False)
                trial_seed = gr.Number(label="seed", interactive=False, precision=0)
            trial_status = gr.Markdown(elem_id="trial-status", elem_classes="status-line")
            with gr.Row(elem_id="trial-pair"):
                video_a = gr.Video(label="Video A", elem_id="video-a", loop=False, autoplay=False, min_width=120)
                video_b = gr.Video(label="Video B", elem_id="video-b", loop=False, autoplay=False, min_width=120)
            with gr.Row():
                v_if = ui.Radio(choices, label="Instruction following", elem_id="vote-instruction")
                v_ph = ui.Radio(choices, label="Physics", elem_id="vote-physics")
                v_vq = ui.Radio(choices, label="Visual quality", elem_id="vote-quality")
            vote_btn = gr.Button("Submit vote", variant="primary", interactive=False, elem_id="submit-vote")
            reveal = gr.Markdown(elem_id="reveal", elem_classes="status-line")
            watched = gr.State(ui.UNWATCHED)

        with gr.Tab("Results", id="results") as results_tab:
            refresh = gr.Button("Refresh", elem_id="refresh-results")
            summary = gr.Markdown(elem_id="results-summary")
            table2 = gr.Dataframe(label="Table 2 layout: % of votes per criterion", interactive=False)
            bt = gr.Dataframe(
                label=f"Bradley-Terry strengths, bootstrap 95% CI (none below {analysis.MIN_BOOTSTRAP_VOTES} votes)",
                interactive=False,
                elem_id="bt-table",
            )
            bt_plot = gr.Plot(label="Bradley-Terry")
            counts = gr.Dataframe(label="vote counts", interactive=False, elem_id="counts-table")
            csv_file = gr.File(label="votes CSV")

        # ---- wiring -------------------------------------------------------------------------------------------
        random_seed.click(lambda: random.randint(0, MAX_SEED), outputs=seed, api_name="random_seed", queue=False)
        generate_btn.click(
            h.generate,
            inputs=[prompt, negative_prompt, seed, num_frames, height, width, steps, guidance],
            outputs=[video_cog, video_mimir, info_cog, info_mimir, files_cog, files_mimir, used_seed],
            api_name="generate",
            show_progress_on=generate_status,
            **model_event,
        ).success(lambda p: gr.update(visible=studio.unplaced(p)), prompt, try_btn, api_visibility="private")
        used_seed.change(lambda s: f"**used seed**: {s}", used_seed, used_seed_text, api_visibility="private")
        try_btn.click(lambda: (first, gr.update(visible=False)), None, [prompt, try_btn], api_visibility="private")
        tokens_btn.click(
            h.token_space,
            inputs=[token_prompts, answer_prompt, k, perplexity, token_seed],
            outputs=[plot_a, plot_b, plot_c, plot_d, stats, vol, answers],
            api_name="tokens",
            show_progress_on=tokens_status,
            **model_event,
        )
        # The old trial's status ("Both videos watched: cast your vote") goes at once, before the new one generates.
        trial_btn.click(
            lambda: ("Generating a new trial…", gr.update(interactive=False), ""),
            outputs=[trial_status, vote_btn, reveal],
            queue=False,
            api_visibility="private",
        )
        trial_btn.click(
            h.new_trial,
            inputs=[own_prompt],
            outputs=[trial_id, trial_prompt, trial_seed, video_a, video_b, trial_status, vote_btn, reveal, watched],
            api_name="new_trial",
            show_progress_on=trial_status,
            **model_event,
        ).success(lambda: (None, None, None), outputs=[v_if, v_ph, v_vq], api_visibility="private")
        for side, video in (("a", video_a), ("b", video_b)):
            # Tiny handlers off the queue: they never wait behind a generation.
            video.end(
                h.ended(side), inputs=[watched], outputs=[watched, vote_btn, trial_status], queue=False,
                api_visibility="private",
            )  # fmt: skip
        # Votes never wait for each other or for a generation: a vote is milliseconds of file work (the vote file
        # serialises the writes), so they run at once; the per-client rate limit bounds them instead.
        vote_btn.click(
            h.vote,
            inputs=[trial_id, v_if, v_ph, v_vq],
            outputs=[reveal, vote_btn],
            api_name="vote",
            show_progress_on=reveal,
            concurrency_limit=None,
        )
        results_outputs = [summary, table2, bt, counts, bt_plot, csv_file]
        refresh.click(h.results, outputs=results_outputs, api_name="results", show_progress_on=summary)
        results_tab.select(h.results, outputs=results_outputs, api_visibility="private", show_progress_on=summary)
    return demo


# ---- entry point -------------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Mimir Studio: CogVideoX vs Mimir side by side (Gradio app)")
    add_model_args(parser)
    add_app_args(parser)
    return parser.parse_args(argv)


def create_app(args: argparse.Namespace) -> tuple[gr.Blocks, Studio]:
    """The studio (files checked first, then the models, once) and its queued Blocks app; for main() and the tests."""
    config = StudioConfig.from_args(args)
    studio = Studio.from_config(config)
    if studio.persistence_note:
        logger.warning(studio.persistence_note)
    return queued(build_demo(studio, analytics=config.analytics)), studio


def queued(demo: gr.Blocks) -> gr.Blocks:
    return ui.bounded_queue(demo)


def launch_kwargs(studio: Studio) -> dict[str, Any]:
    return ui.launch_kwargs(studio, CSS_PATH, shared=[NUMBERS_PATH])


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
    ui.serve(demo, host, port, **launch_kwargs(studio), on_exit=studio.outputs.remove_all)


if __name__ == "__main__":
    main()
