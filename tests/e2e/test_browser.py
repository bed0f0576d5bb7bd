"""End to end in a real browser: Debian's chromium driven by Playwright (python), never Playwright's own browser.

On the shipped nano models: generates a comparison, then checks what a person sees when things go wrong (a
fractional seed, a prompt longer than the encoder's n tokens, whose limit the page states, an incomplete vote: each
refused with a message that says what to do, nothing earlier lost, no "Error" badge on the outputs, one log line and
no traceback), that model events queue one at a time, the progress labels, the memory label and the verdict order;
computes the token space; plays both study videos to the end, votes, and checks the vote in the Results tab and in
the CSV. Issue 12's items 8-11, in a browser.

Screenshots of each tab go to a temporary folder; `make screenshots` writes them to assets/screenshots/ instead
(MIMIR_SCREENSHOTS=folder).

    apt-get install -y chromium
    python -m pytest tests/e2e -m e2e
"""

import csv
import dataclasses
import logging
import os
import re
import threading
import time
from pathlib import Path

import pytest

import app
from mimir.studio import gpu
from mimir.studio.examples import load_examples
from mimir.world.reader import parse_prompt
from tests.net import free_port


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
FAST_STEPS = 4
TIMEOUT_MS = 180_000
SKIP_REASON = "needs Debian's chromium at /usr/bin/chromium: apt-get install -y chromium"
LONG_PROMPT = " ".join(["a red circle to the left of a blue square"] * 5)  # 50 words, over nano's n = 32 tokens
OUTPUT_BOXES = ("#video-cogvideox", "#video-mimir", "#info-cogvideox", "#info-mimir")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]


@pytest.fixture(scope="module")
def served(tmp_path_factory, nano_pipes):
    tmp = tmp_path_factory.mktemp("e2e")
    pipes = dataclasses.replace(nano_pipes, defaults={**nano_pipes.defaults, "num_inference_steps": FAST_STEPS})
    studio = app.Studio(pipes, votes_path=tmp / "votes.csv", out_dir=tmp / "out", study_seed=0)
    demo = app.queued(app.build_demo(studio))
    port = free_port()
    demo.launch(
        server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs(studio)
    )
    yield f"http://127.0.0.1:{port}/", studio
    demo.close()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory) -> Path:
    folder = os.environ.get("MIMIR_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def page():
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        yield page
        context.close()
        browser.close()


def _text(page, selector: str) -> str:
    return page.locator(selector).inner_text()


def _video_src(page, selector: str) -> str:
    return page.locator(f"{selector} video").get_attribute("src")


def _refused(page, message: str) -> None:
    """The error toast shows `message`; close it so the next check starts clean."""
    toast = page.locator(".toast-body", has_text=message)
    toast.wait_for()
    toast.locator(".toast-close").click()
    toast.wait_for(state="detached")


def _no_error_badges(page, selectors) -> None:
    for selector in selectors:
        assert "Error" not in _text(page, selector), selector


def _wait_for_text(page, selector: str, pattern: str) -> str:
    """Poll the element's text until it matches `pattern` (catches short-lived progress labels)."""
    handle = page.wait_for_function(
        "([sel, pat]) => { const el = document.querySelector(sel); const m = el && el.innerText.match(pat);"
        " return m ? m[0] : null; }",
        arg=[selector, pattern],
        polling="raf",
    )
    return handle.json_value()


def _play_to_end(page, selector: str) -> float:
    """Start playback muted (autoplay policy), wait until the element reports `ended`; return the clip's seconds."""
    video = page.locator(f"{selector} video")
    video.wait_for(state="attached")
    page.wait_for_function(
        "sel => { const v = document.querySelector(sel + ' video'); return v && v.readyState >= 2; }", arg=selector
    )
    duration = video.evaluate("v => v.duration")
    video.evaluate("v => { v.muted = true; v.loop = false; return v.play(); }")
    page.wait_for_function("sel => document.querySelector(sel + ' video').ended", arg=selector)
    return duration


def test_full_flow(served, page, screenshots, monkeypatch, caplog):
    url, studio = served
    caplog.set_level(logging.WARNING, logger="mimir.app")  # each refused input: one line, no traceback
    spans, lock = [], threading.Lock()  # when each generation ran, to check that they never overlap

    def timed(*args, **kwargs):
        start = time.monotonic()
        out = run_compare(*args, **kwargs)  # a refused input raises here: it ran no model, so it has no span
        with lock:
            spans.append((start, time.monotonic()))
        return out

    run_compare = gpu.run_compare
    monkeypatch.setattr(gpu, "run_compare", timed)

    page.goto(url)
    page.get_by_text("Mimir Studio").first.wait_for()
    assert "preset" in _text(page, "#header")

    # 1. Compare: both videos with the same seed, one labelled progress bar, this run's memory, the verdict first.
    # The prompt is the box's default, the first example of the first category (unseen wordings, by the rule in
    # prompts/examples/unseen_wordings.txt): the README's headline screenshot.
    default = load_examples(app.EXAMPLES_DIR)["unseen_wordings"][0]
    assert page.locator("#prompt textarea").input_value() == default
    dimension = parse_prompt(default).dimension.replace("_", " ")
    assert "none yet" in _text(page, "#used-seed")  # nothing ran yet: no seed was used
    page.locator("#generate").click()
    label = _wait_for_text(page, "#generate-status", r"(CogVideoX|Mimir) \d+/\d+")
    assert label.endswith(f"/{FAST_STEPS}"), label
    page.locator("#info-mimir").get_by_text("peak memory").wait_for()
    page.locator("#info-cogvideox").get_by_text("peak memory").wait_for()
    info = _text(page, "#info-mimir")
    assert "process RSS during this generation" in info
    verdict = re.search(
        rf"Whole scene: (pass|FAIL), (\d) of (\d) checks pass\. NanoBench counts this prompt by its {dimension} "
        r"check alone: (pass|FAIL)\.",
        info,
    )
    assert verdict, info
    assert (verdict[1] == "pass") == (verdict[2] == verdict[3])  # the headline is the whole scene's verdict
    assert f"{dimension} {verdict[4]}" in info  # the counted verdict is that check's own
    assert info.index(verdict[0]) < info.index("object class ")  # then each check
    page.locator("#video-mimir video").wait_for(state="attached")
    page.locator("#used-seed").get_by_text("used seed: 0").wait_for()
    videos = {sel: _video_src(page, sel) for sel in ("#video-cogvideox", "#video-mimir")}
    infos = {sel: _text(page, sel) for sel in ("#info-cogvideox", "#info-mimir")}
    page.screenshot(path=str(screenshots / "compare.png"), full_page=True)

    # 2. Refused inputs: the limit stated beside the prompt, a clear message, nothing earlier lost, no "Error" badge
    assert "at most 32 tokens; a longer prompt is refused, never cut" in _text(page, "#prompt")
    page.locator("#seed input").fill("1.5")
    page.locator("#generate").click()
    _refused(page, "seed=1.5 must be a whole number")
    page.locator("#seed input").fill("0")
    page.locator("#prompt textarea").fill(LONG_PROMPT)
    page.locator("#generate").click()
    _refused(page, "tokens long; this model reads at most 32")
    assert {sel: _video_src(page, sel) for sel in videos} == videos
    assert {sel: _text(page, sel) for sel in infos} == infos
    _no_error_badges(page, OUTPUT_BOXES)
    assert len(spans) == 1  # neither refused input ran a model

    # 2b. A prompt outside the world: no verdicts, a note on what the world holds, and one example to click
    page.locator("#prompt textarea").fill("two dogs")
    page.locator("#generate").click()
    page.locator("#try-example").wait_for(state="visible")
    assert "outside the nano world" in _text(page, "#info-mimir") and "two dogs" in _text(page, "#info-mimir")
    page.locator("#try-example").click()
    page.wait_for_function("d => document.querySelector('#prompt textarea').value === d", arg=default)
    assert len(spans) == 2

    # 3. Token space: progress through its stages, then four interactive plots and the value-range table
    page.get_by_role("tab", name="Tokens").click()
    page.locator("#tokens-k input[type=number]").fill("2")  # two answers are enough to see them move; 4 cost a minute
    page.locator("#tokens-k input[type=number]").press("Enter")
    page.locator("#tokens-run").click()
    _wait_for_text(page, "#tokens-status", r"encoding \d+ prompts|sampling \d+ answers|t-SNE of panel")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4")
    page.get_by_text("Sampled answers (panel b)").wait_for()
    assert page.locator("#answers li").count() == 2  # K = 2 sampled answers
    page.screenshot(path=str(screenshots / "token_space.png"), full_page=True)

    # 4. One generation at a time: a comparison and a study trial requested together run one after the other
    page.get_by_role("tab", name="Compare").click()
    page.locator("#prompt textarea").fill("three yellow triangles")
    page.locator("#generate").click()
    page.get_by_role("tab", name="Study").click()
    page.locator("#own-prompt textarea, #own-prompt input").first.fill(LONG_PROMPT)
    page.locator("#new-trial").click()
    _refused(page, "tokens long; this model reads at most 32")  # the study's own prompt is refused, not cut
    page.locator("#own-prompt textarea, #own-prompt input").first.fill("")
    page.locator("#new-trial").click()
    page.wait_for_function(
        "() => { const t = document.querySelector('#trial-id textarea, #trial-id input'); return t && t.value; }"
    )
    assert len(spans) == 4
    spans.sort()
    assert all(end <= next_start for (_, end), (next_start, _) in zip(spans, spans[1:])), spans

    # 5. User study: play controls shown, clips long enough to judge, votes unlock only after both videos ended
    trial_id = page.locator("#trial-id textarea, #trial-id input").first.input_value()
    submit = page.locator("#submit-vote")
    assert submit.is_disabled()
    for side in ("#video-a", "#video-b"):
        opacity = page.locator(f"{side} .controls").evaluate("el => getComputedStyle(el).opacity")
        assert opacity == "1", f"{side} hides its play controls"
    assert _play_to_end(page, "#video-a") >= 2.5
    assert submit.is_disabled()  # one video is not enough
    assert _play_to_end(page, "#video-b") >= 2.5
    page.wait_for_function("() => !document.querySelector('#submit-vote').disabled")
    page.locator("#vote-instruction").get_by_text("A", exact=True).click()
    page.locator("#vote-quality").get_by_text("both bad", exact=True).click()
    submit.click()
    _refused(page, "choose A, B, tie or both bad for Physics")
    assert studio.votes.path.read_bytes() == b""  # created empty by the start-up check; the refusal wrote nothing
    page.locator("#vote-physics").get_by_text("tie", exact=True).click()
    submit.click()
    page.locator("#reveal").get_by_text("Video A was").wait_for()
    page.screenshot(path=str(screenshots / "user_study.png"), full_page=True)

    # 6. Results: the three rows of the ballot, names as in Table 2, intervals from 1 vote marked, the CSV on disk
    page.get_by_role("tab", name="Results").click()
    page.locator("#results-summary").get_by_text("3 votes").wait_for()
    _wait_for_text(page, "#bt-table", r"too few votes for an interval \(< 10\)")
    assert "CogVideoX" in _text(page, "#counts-table") and "Instruction following" in _text(page, "#counts-table")
    page.screenshot(path=str(screenshots / "results.png"), full_page=True)

    # 7. Phone width (390 px): every tab stays reachable, the two videos stay next to each other
    page.set_viewport_size({"width": 390, "height": 844})
    page.get_by_role("tab", name="Compare").click()
    for name in ("Compare", "Tokens", "Study", "Results"):
        assert page.get_by_role("tab", name=name).is_visible(), f"tab {name} hidden at 390 px"
    cog, mim = (page.locator(f"{sel} video").bounding_box() for sel in ("#video-cogvideox", "#video-mimir"))
    assert abs(cog["y"] - mim["y"]) < 2 and cog["x"] + cog["width"] <= mim["x"] + 1, (cog, mim)
    page.screenshot(path=str(screenshots / "phone.png"), full_page=True)
    page.set_viewport_size({"width": 1400, "height": 1000})

    with studio.votes.path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert {r["trial_id"] for r in rows} == {trial_id}
    by_criterion = {r["criterion"]: r for r in rows}
    assert by_criterion["instruction_following"]["chosen_model"] == rows[0]["model_left"]
    assert by_criterion["physics"]["choice"] == "tie" and by_criterion["visual_quality"]["choice"] == "both_bad"

    # Every refusal above logged one line, without a traceback: the two in Compare (the fractional seed by the seed
    # widget's own type check, the long prompt by the pipeline), the study's, the vote's
    refused = [r for r in caplog.records if r.name == "mimir.app"]
    assert [r.getMessage().split(" refused: ")[0] for r in refused] == ["seed", "generate", "new_trial", "vote"]
    assert all(r.exc_info is None and "\n" not in r.getMessage() for r in refused), [r.getMessage() for r in refused]
