"""End to end in a real browser: Debian's chromium driven by Playwright (python), never Playwright's own browser.

Generates a comparison, computes the token space, plays both study videos to the end, votes, then checks the vote in
the Results tab and in the CSV. Saves a screenshot of each tab to assets/screenshots/.

    apt-get install -y chromium
    python -m pytest tests/e2e -m e2e
"""

import csv
from pathlib import Path

import pytest

from tests.net import free_port


CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = Path(__file__).resolve().parents[2] / "assets" / "screenshots"
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



pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not CHROMIUM.exists(), reason=SKIP_REASON),
]



@pytest.fixture(scope="module")
def served(tmp_path_factory):
    import app
    from mimir.presets import load_pipelines

    tmp = tmp_path_factory.mktemp("e2e")
    pipes = load_pipelines("nano")
    pipes.defaults = {**pipes.defaults, "num_inference_steps": FAST_STEPS}
    studio = app.Studio(pipes, votes_path=tmp / "votes.csv", study_seed=0)
    demo = app.build_demo(studio).queue(default_concurrency_limit=1)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    yield f"http://127.0.0.1:{port}/", studio
    demo.close()


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


def _shot(page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _play_to_end(page, selector: str) -> None:
    """Start playback muted (autoplay policy) and wait until the element reports `ended`."""
    video = page.locator(f"{selector} video")
    video.wait_for(state="attached")
    page.wait_for_function(
        "sel => { const v = document.querySelector(sel + ' video'); return v && v.readyState >= 2; }", arg=selector
    )
    video.evaluate("v => { v.muted = true; v.loop = false; return v.play(); }")
    page.wait_for_function("sel => document.querySelector(sel + ' video').ended", arg=selector)


def test_full_flow(served, page):
    url, studio = served
    page.goto(url)
    page.get_by_text("Mimir Studio").first.wait_for()
    assert "preset" in page.locator("#header").inner_text()

    # 1. Compare: both videos with the same seed
    page.get_by_label("prompt", exact=True).fill("a red circle to the left of a blue square")
    page.locator("#generate").click()
    page.locator("#info-mimir").get_by_text("peak memory").wait_for()
    page.locator("#info-cogvideox").get_by_text("peak memory").wait_for()
    page.locator("#video-mimir video").wait_for(state="attached")
    _shot(page, "compare")

    # 2. Token space: four interactive plots and the value-range table
    page.get_by_role("tab", name="Token space").click()
    page.locator("#tokens-run").click()
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 4")
    page.get_by_text("Sampled answers (panel b)").wait_for()
    _shot(page, "token_space")

    # 3. User study: votes unlock only after both videos have ended
    page.get_by_role("tab", name="User study").click()
    page.locator("#new-trial").click()
    page.locator("#trial-id textarea, #trial-id input").first.wait_for()
    page.wait_for_function(
        "() => { const t = document.querySelector('#trial-id textarea, #trial-id input'); return t && t.value; }"
    )
    trial_id = page.locator("#trial-id textarea, #trial-id input").first.input_value()
    submit = page.locator("#submit-vote")
    assert submit.is_disabled()
    _play_to_end(page, "#video-a")
    assert submit.is_disabled()  # one video is not enough
    _play_to_end(page, "#video-b")
    page.wait_for_function("() => !document.querySelector('#submit-vote').disabled")
    page.locator("#vote-instruction").get_by_text("A", exact=True).click()
    page.locator("#vote-physics").get_by_text("tie", exact=True).click()
    page.locator("#vote-quality").get_by_text("both bad", exact=True).click()
    submit.click()
    page.locator("#reveal").get_by_text("Video A was").wait_for()
    _shot(page, "user_study")

    # 4. Results: the three rows of the ballot, and the CSV on disk
    page.get_by_role("tab", name="Results").click()
    page.locator("#results-summary").get_by_text("3 votes").wait_for()
    _shot(page, "results")

    with studio.votes.path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3
    assert {r["trial_id"] for r in rows} == {trial_id}
    by_criterion = {r["criterion"]: r for r in rows}
    assert by_criterion["instruction_following"]["chosen_model"] == rows[0]["model_left"]
    assert by_criterion["physics"]["choice"] == "tie" and by_criterion["visual_quality"]["choice"] == "both_bad"
