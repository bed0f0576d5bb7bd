"""Every named API endpoint of app.py through gradio_client.

The app runs in-process on a free port with a temporary vote CSV. Most tests serve tiny seeded pipelines (the
components of tests/tiny.py, 16x16 frames, 2 steps): the app's wiring, errors, queue and files do not need trained
models, and the pipelines' own `check_inputs` still judges every input. One test serves the real nano preset end to
end (marked slow), where the NanoBench verdicts and the real models matter.
"""

import csv
import dataclasses
import json
import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError
from moviepy import VideoFileClip

import app
from mimir.generation import GenerationSettings, PeakMemory, compare, generate
from mimir.studio import gpu
from mimir.studio.requests import Client as StudioClient
from mimir.studio.verdicts import result_markdown
from mimir.study import trials, votes
from tests.net import free_port
from tests.tiny import SEQ
from tests.tiny_studio import STEPS, tiny_pipes


pytestmark = pytest.mark.timeout(600)
ROOT = Path(__file__).resolve().parents[1]
STUDY_PROMPTS = ("a red circle to the left of a blue square", "three yellow triangles")
LONG_PROMPT = " ".join(["a red circle to the left of a blue square"] * 6)  # ~60 tokens, over the tiny n = 16


def serve(studio: app.Studio):
    demo = app.queued(app.build_demo(studio))
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs(studio)
    )
    return demo, Client(f"http://127.0.0.1:{port}/", verbose=False)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    prompts = tmp / "study.txt"
    prompts.write_text("# test study\n" + "\n".join(STUDY_PROMPTS) + "\n")
    studio = app.Studio(
        tiny_pipes(), votes_path=tmp / "votes" / "votes.csv", study_prompts=prompts, out_dir=tmp / "out", study_seed=0
    )
    demo, client = serve(studio)
    yield client, studio
    client.close()
    demo.close()


def _csv_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _files(folder: Path) -> set[Path]:
    return set(folder.rglob("*")) if folder.exists() else set()


def _path(video) -> str:
    return video["video"] if isinstance(video, dict) else video


def test_named_endpoints_exist(served):
    client, _ = served
    names = set(client.view_api(print_info=False, return_format="dict")["named_endpoints"])
    assert {"/generate", "/random_seed", "/tokens", "/new_trial", "/vote", "/results"} <= names


def test_random_seed(served):
    client, _ = served
    seed = client.predict(api_name="/random_seed")
    assert 0 <= seed <= app.MAX_SEED and float(seed).is_integer()


def test_generate_returns_both_videos_same_seed(served):
    client, _ = served
    out = client.predict("a red circle", "", 123, 9, 16, 16, STEPS, 4.0, api_name="/generate")
    video_cog, video_mimir, info_cog, info_mimir, files_cog, files_mimir, used_seed = out
    assert used_seed == 123
    for video in (video_cog, video_mimir):
        assert Path(_path(video)).suffix == ".mp4" and Path(_path(video)).stat().st_size > 0
    assert info_cog.startswith("**CogVideoX**") and info_mimir.startswith("**Mimir**")
    assert "process RSS during this generation" in info_mimir  # the label says what the figure is
    assert sorted(Path(f).suffix for f in files_mimir) == [".gif", ".mp4"] and len(files_cog) == 2


def test_generate_full_seed_range(served):
    client, _ = served
    out = client.predict("a green triangle appears", "", app.MAX_SEED, 9, 16, 16, 1, 4.0, api_name="/generate")
    assert out[-1] == app.MAX_SEED


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        # the widgets' own checks (an API client can send anything), with the parameter, the value and the limit
        (("a red circle", "", 0, 9, 16, 16, 2, 99.0), ["guidance_scale: Value 99.0 is greater than maximum value 20"]),
        (("a red circle", "", 0, 9, 16, 16, 0, 4.0), ["num_inference_steps: Value 0 is less than minimum value 1"]),
        (("a red circle", "", 0, 12, 16, 16, 2, 4.0), ["num_frames: Value: 12 is not in the list", "[9, 17]"]),
        (("a red circle", "", 0, 9, 20, 16, 2, 4.0), ["height: Value: 20", "[8, 16, 24, 32]"]),
        # the app's conversion: a fraction is refused, never rounded
        (("a red circle", "", 1.5, 9, 16, 16, 2, 4.0), ["seed=1.5 must be a whole number"]),
        # the pipeline's check_inputs, shown as is
        (("a red circle", "", 2**32, 9, 16, 16, 2, 4.0), ["seed", str(2**32)]),
        (("   ", "", 0, 9, 16, 16, 2, 4.0), ["prompt"]),
        ((LONG_PROMPT, "", 0, 9, 16, 16, 2, 4.0), ["tokens long", f"at most {SEQ}"]),
        (("a red circle", LONG_PROMPT, 0, 9, 16, 16, 2, 4.0), ["negative_prompt", f"at most {SEQ}"]),
    ],
)
def test_generate_bad_input_names_value_and_writes_nothing(served, args, needles):
    client, studio = served
    before = _files(studio.out_dir)
    with pytest.raises(Exception) as err:
        client.predict(*args, api_name="/generate")
    for needle in needles:
        assert needle in str(err.value), str(err.value)
    assert _files(studio.out_dir) == before


@pytest.mark.parametrize(
    ("args", "logged"),
    [
        (("a red circle", "", 2.5, 9, 16, 16, 2, 4.0), "seed refused: seed=2.5 must be a whole number"),
        ((LONG_PROMPT, "", 0, 9, 16, 16, 2, 4.0), "generate refused: prompt is "),
        (("a red circle", "", 0, 9, 16, 16, 2, 99.0), "guidance_scale refused: Value 99.0 is greater than"),
        (("a red circle", "", 0, 12, 16, 16, 2, 4.0), "num_frames refused: Value: 12 is not in the list"),
    ],
)
def test_refused_input_logs_one_line_not_a_traceback(served, caplog, capfd, args, logged):
    client, _ = served
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger="mimir.app"), pytest.raises(AppError):
        client.predict(*args, api_name="/generate")
    refused = [r for r in caplog.records if r.name == "mimir.app"]
    assert len(refused) == 1 and logged in refused[0].getMessage(), [r.getMessage() for r in refused]
    assert refused[0].exc_info is None
    assert "Traceback" not in capfd.readouterr().err


def test_tokens(served):
    client, _ = served
    prompts = "a red circle to the left of a blue square\nthree yellow triangles\na green triangle appears"
    *plots, stats, volatility, answers = client.predict(prompts, "", 3, 5, 0, api_name="/tokens")
    assert len(plots) == 4 and all(plot is not None for plot in plots)
    assert {"encoder", "LLM", "LLM after Norm & Scale", "fused"} <= {row[0] for row in stats["data"]}
    assert {row[0] for row in volatility["data"]} == {"query", "answer", "final"}
    assert "Sampled answers" in answers


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("red", "", 3, 90, 0), ["perplexity 90", "which is"]),
        (("", "", 3, 5, 0), ["no prompts"]),
        (("red", "", 3, 5, 0.5), ["seed=0.5 must be a whole number"]),
        # the pipeline's own length rule: a prompt longer than n is refused in the token space too, never cut
        (("red\n" + LONG_PROMPT, "", 3, 5, 0), ["prompt is", "tokens long", f"at most {SEQ}"]),
        (("red", LONG_PROMPT, 3, 5, 0), ["answer_prompt is", f"at most {SEQ}"]),
    ],
)
def test_tokens_bad_input(served, args, needles):
    client, _ = served
    with pytest.raises(Exception) as err:
        client.predict(*args, api_name="/tokens")
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def played(studio, monkeypatch) -> None:
    """As if the clips had been played: the trial store's clock a minute ahead (the client has loaded both videos;
    the watched-both wait itself is tested in test_app_hardening.py)."""
    monkeypatch.setattr(studio.trial_store, "clock", lambda: time.time() + 60)


def test_trial_vote_results_roundtrip(served, monkeypatch):
    client, studio = served
    csv_path = studio.votes.path
    before = len(_csv_rows(csv_path))
    trial = client.predict("", api_name="/new_trial")
    trial_id, prompt, seed = trial[0], trial[1], trial[2]
    assert prompt in STUDY_PROMPTS and 0 <= seed <= app.MAX_SEED
    for video in trial[3:5]:
        name = Path(_path(video)).name.lower()
        assert "mimir" not in name and "cogvideox" not in name  # file names must not reveal the side
        clip = VideoFileClip(_path(video))
        assert clip.duration >= 2.5, clip.duration  # long enough to judge: 17 frames at 6 fps, not 9 at 8
        clip.close()
    assert "2.8 s each" in trial[5]

    played(studio, monkeypatch)
    out = client.predict(trial_id, "A", "tie", "both_bad", api_name="/vote")
    reveal = out[0] if isinstance(out, (list, tuple)) else out  # the button update is not an API output
    assert "Video A was" in reveal
    rows = _csv_rows(csv_path)
    assert len(rows) == before + 3
    new = rows[-3:]
    assert {r["criterion"] for r in new} == set(votes.CRITERIA)
    assert all(r["trial_id"] == trial_id and r["seed"] == str(seed) and r["app_version"] for r in new)
    first = next(r for r in new if r["criterion"] == "instruction_following")
    assert first["chosen_model"] == first["model_left"]
    assert float(first["seconds_left"]) > 0 and first["num_inference_steps"] == str(STEPS)
    assert first["num_frames"] == "17"

    # a second vote on the same trial is refused and writes nothing
    with pytest.raises(Exception, match="already"):
        client.predict(trial_id, "B", "B", "B", api_name="/vote")
    assert len(_csv_rows(csv_path)) == before + 3

    summary, table2, bt, counts, _plot, csv_file = client.predict(api_name="/results")
    assert f"{before + 3} votes" in summary  # counts rows, not ballots
    assert table2["headers"][:3] == ["criterion", "CogVideoX %", "Mimir %"]
    assert {row[1] for row in bt["data"]} == {"CogVideoX", "Mimir"}
    assert "too few votes for an interval (< 10)" in {row[-1] for row in bt["data"]}
    assert counts["headers"] == ["criterion", "CogVideoX", "Mimir", "tie", "both bad", "total"]
    assert [row[0] for row in counts["data"]] == [row[0] for row in table2["data"]]  # same names as Table 2
    assert Path(csv_file).read_text().startswith("timestamp_utc,")


def test_own_prompt_trial(served):
    client, _ = served
    trial = client.predict("a white circle disappears", api_name="/new_trial")
    assert trial[1] == "a white circle disappears"


def test_own_prompt_too_long_is_refused_not_cut(served):
    client, studio = served
    before = _files(studio.out_dir)
    with pytest.raises(Exception) as err:
        client.predict(LONG_PROMPT, api_name="/new_trial")
    assert "tokens long" in str(err.value) and f"at most {SEQ}" in str(err.value), str(err.value)
    assert _files(studio.out_dir) == before  # no video was made of a cut prompt


@pytest.mark.parametrize(
    ("ballot", "message"),
    [
        # the radio's own check names the criterion, the value and the allowed set (HTML-escaped: errors render HTML)
        (
            ("C", "A", "A"),
            "Instruction following: Value: 'C' (type: &lt;class 'str'&gt;) is not in the list of choices",
        ),
        (("A", None, "A"), "choose A, B, tie or both bad for Physics"),
        ((None, "A", None), "choose A, B, tie or both bad for Instruction following and Visual quality"),
    ],
)
def test_vote_bad_input_writes_nothing(served, monkeypatch, ballot, message):
    client, studio = served
    trial_id = client.predict("", api_name="/new_trial")[0]
    before = _csv_rows(studio.votes.path)
    with pytest.raises(Exception) as err:
        client.predict(trial_id, *ballot, api_name="/vote")
    assert message in str(err.value), str(err.value)
    assert _csv_rows(studio.votes.path) == before
    played(studio, monkeypatch)
    client.predict(trial_id, "A", "B", "tie", api_name="/vote")  # the trial is still open after a refused ballot
    assert len(_csv_rows(studio.votes.path)) == len(before) + 3


def test_vote_unknown_trial(served):
    client, studio = served
    before = _csv_rows(studio.votes.path)
    with pytest.raises(Exception, match="unknown trial id 'nope'"):
        client.predict("nope", "A", "A", "A", api_name="/vote")
    assert _csv_rows(studio.votes.path) == before


def test_model_events_run_one_at_a_time(served, monkeypatch):
    """/generate, /new_trial and /tokens share one queue slot: no two of them ever run at once."""
    client, _ = served
    spans, lock = [], threading.Lock()

    def timed(fn):
        def wrapper(*args, **kwargs):
            start = time.monotonic()
            try:
                time.sleep(0.5)  # widen each run so an overlap could not go unseen
                return fn(*args, **kwargs)
            finally:
                with lock:
                    spans.append((start, time.monotonic()))

        return wrapper

    monkeypatch.setattr(gpu, "run_compare", timed(gpu.run_compare))
    monkeypatch.setattr(gpu, "run_token_space", timed(gpu.run_token_space))
    jobs = [
        client.submit("a red circle", "", 1, 9, 16, 16, 1, 4.0, api_name="/generate"),
        client.submit("", api_name="/new_trial"),
        client.submit("a red circle\na blue square", "", 2, 5, 0, api_name="/tokens"),
        client.submit("a blue square", "", 2, 9, 16, 16, 1, 4.0, api_name="/generate"),
    ]
    for job in jobs:
        job.result(timeout=300)
    spans.sort()
    assert len(spans) == 4
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans


# ---- adapters, without the server ----------------------------------------------------------------------------------


def test_progress_bar_is_labelled_with_model_and_step(served):
    _, studio = served
    seen = []

    def progress(fraction, desc=None):
        seen.append((fraction, desc))

    settings = studio.settings("a red circle", "", 0, num_frames=9, height=16, width=16, num_inference_steps=STEPS)
    studio.generate_pair(settings, progress=progress)
    assert [desc for _, desc in seen] == ["CogVideoX 1/2", "CogVideoX 2/2", "Mimir 1/2", "Mimir 2/2"]
    assert [fraction for fraction, _ in seen] == [0.5, 1.0, 0.5, 1.0]

    # a blind trial's progress names neither the model nor its side
    seen.clear()
    studio.new_trial("", StudioClient.from_request(None, None, {}, behind_proxy=False), progress=progress)
    assert [desc for _, desc in seen] == [f"video {i} of 2 {s}/2" for i in (1, 2) for s in (1, 2)]


def test_peak_memory_is_this_generations_own(served):
    """A generation that holds 256 MiB more reports a higher peak; the next one, without it, a lower one again."""
    _, studio = served
    settings = GenerationSettings(prompt="a red circle", num_frames=9, height=16, width=16, num_inference_steps=2)
    held = []

    def hog(model, step, total):
        if step == 1:
            held.append(np.ones(256 * 2**20, dtype=np.uint8))  # touched pages: resident
            time.sleep(0.05)  # several samples of the 5 ms sampler
            held.clear()

    pipe = studio.pipes.mimir
    with_hog = generate(pipe, settings, progress=hog)
    without = generate(pipe, settings)
    assert with_hog.peak_memory_kind == without.peak_memory_kind == "process RSS"
    assert with_hog.peak_memory_bytes - without.peak_memory_bytes > 200 * 2**20
    with PeakMemory(pipe._execution_device) as idle:
        time.sleep(0.02)
    assert idle.peak_bytes < with_hog.peak_memory_bytes - 200 * 2**20


def test_verdict_headline_is_the_whole_spec_then_each_check(served):
    _, studio = served
    res = compare(studio.pipes, GenerationSettings(prompt="a red circle", height=16, width=16, num_inference_steps=1))
    verdicts = {"dimension": "color", "pass": True, "checks": {"object_class": False, "color": True}}
    text = result_markdown("Mimir", res["mimir"], verdicts)
    # plain words: check names without underscores, no "a object_class prompt"
    assert (
        "Whole scene: **FAIL**, 1 of 2 checks pass. NanoBench counts this prompt by its color check alone: pass."
        in text
    )
    assert text.index("**FAIL**") < text.index("object class FAIL") < text.index("color pass")
    assert "_" not in text.split("**Mimir**")[1]
    all_pass = {**verdicts, "checks": {"object_class": True, "color": True}}
    assert "**pass**, 2 of 2 checks pass" in result_markdown("Mimir", res["mimir"], all_pass)


def test_study_frames_are_long_enough_to_judge():
    assert trials.study_num_frames(9, (9, 17)) == 17 and trials.playback_fps(17) == 6  # nano: 2.8 s, not 1.1 s
    assert trials.study_num_frames(49, (9, 17, 25, 33, 41, 49)) == 49 and trials.playback_fps(49) == 8  # 5B: 6.1 s


# ---- the real nano preset, end to end ------------------------------------------------------------------------------


@pytest.mark.slow
def test_nano_generate_end_to_end(nano_pipes, tmp_path):
    """The shipped nano models through the API: both videos, NanoBench verdicts of a parsed prompt, a refused long
    prompt (n = 32 in nano)."""
    pipes = dataclasses.replace(nano_pipes, defaults={**nano_pipes.defaults, "num_inference_steps": STEPS})
    demo, client = serve(app.Studio(pipes, votes_path=tmp_path / "votes.csv", out_dir=tmp_path / "out"))
    try:
        out = client.predict(
            "a red circle to the left of a blue square", "", 7, 9, 64, 64, STEPS, 4.0, api_name="/generate"
        )
        for info in out[2:4]:
            assert "Whole scene: **" in info and "checks pass" in info
            assert "by its spatial relationship check alone: " in info
        frames = VideoFileClip(_path(out[1]))
        assert frames.size == [256, 256]
        frames.close()
        with pytest.raises(Exception, match="at most 32"):
            client.predict(" ".join(["a red circle"] * 20), "", 7, 9, 64, 64, STEPS, 4.0, api_name="/generate")
    finally:
        client.close()
        demo.close()


@pytest.mark.slow
def test_nano_generate_gives_verdicts_on_held_out_wordings(nano_pipes, tmp_path):
    """NanoBench's held-out prompts (wordings training never used), one per dimension, through /generate on the
    shipped nano models: each gets its verdicts, on the check of the line's own dimension. An out-of-world prompt
    gets the note on what the world contains instead."""
    pipes = dataclasses.replace(nano_pipes, defaults={**nano_pipes.defaults, "num_inference_steps": 2})
    demo, client = serve(app.Studio(pipes, votes_path=tmp_path / "votes.csv", out_dir=tmp_path / "out"))
    suites = sorted((ROOT / "prompts" / "bench" / "heldout").glob("*.jsonl"))
    assert len(suites) == 9
    try:
        for suite in suites:
            line = json.loads(suite.read_text().splitlines()[0])
            out = client.predict(line["prompt"], "", 0, 9, 64, 64, 2, 4.0, api_name="/generate")
            for info in out[2:4]:
                assert "Whole scene: **" in info, (line["prompt"], info)
                assert f"by its {line['dimension'].replace('_', ' ')} check alone: " in info, (line["prompt"], info)
        out = client.predict("an eagle soaring over a snowy forest", "", 0, 9, 64, 64, 2, 4.0, api_name="/generate")
        for info in out[2:4]:
            assert "Whole scene" not in info and "nano world" in info and "Try:" in info, info
    finally:
        client.close()
        demo.close()
