"""Every named API endpoint of app.py through gradio_client, on the nano preset (CPU, offline).

The app runs in-process on a free port with a temporary vote CSV; generation uses 2 denoising steps to stay fast.
"""

import csv
from pathlib import Path

import pytest


gradio_client = pytest.importorskip("gradio_client")
from gradio_client import Client  # noqa: E402

import app  # noqa: E402
from mimir import study  # noqa: E402
from tests.net import free_port  # noqa: E402


pytestmark = pytest.mark.timeout(600)
FAST_STEPS = 2



@pytest.fixture(scope="module")
def served(tmp_path_factory):
    from mimir.presets import load_pipelines

    tmp = tmp_path_factory.mktemp("app")
    prompts = tmp / "study.txt"
    prompts.write_text("# test study\na red circle to the left of a blue square\nthree yellow triangles\n")
    pipes = load_pipelines("nano")
    pipes.defaults = {**pipes.defaults, "num_inference_steps": FAST_STEPS}  # study trials use the defaults
    studio = app.Studio(pipes, votes_path=tmp / "votes" / "votes.csv", study_prompts=prompts, study_seed=0)
    demo = app.build_demo(studio).queue(default_concurrency_limit=1)
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **app.launch_kwargs())
    client = Client(f"http://127.0.0.1:{port}/", verbose=False)
    yield client, studio
    client.close() if hasattr(client, "close") else None
    demo.close()


def _csv_rows(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


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
    out = client.predict(
        "a red circle to the left of a blue square", "", 123, 9, 64, 64, FAST_STEPS, 4.0, api_name="/generate"
    )
    video_cog, video_mimir, info_cog, info_mimir, files_cog, files_mimir, used_seed = out
    assert used_seed == 123
    for video in (video_cog, video_mimir):
        path = video["video"] if isinstance(video, dict) else video
        assert Path(path).suffix == ".mp4" and Path(path).stat().st_size > 0
    assert "CogVideoX" in info_cog and "Mimir" in info_mimir and " s " in info_mimir
    assert sorted(Path(f).suffix for f in files_mimir) == [".gif", ".mp4"]
    assert len(files_cog) == 2


def test_generate_full_seed_range(served):
    client, _ = served
    out = client.predict("a green triangle appears", "", app.MAX_SEED, 9, 64, 64, 1, 4.0, api_name="/generate")
    assert out[-1] == app.MAX_SEED


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        # sliders: Gradio's own range check answers first, with the value and the limit
        (("a red circle", "", 0, 9, 64, 64, 2, 99.0), ["99", "20"]),
        (("a red circle", "", 0, 9, 64, 64, 0, 4.0), ["0", "minimum value 1"]),
        (("a red circle", "", 2**32, 9, 64, 64, 2, 4.0), ["seed", str(2**32)]),
        (("   ", "", 0, 9, 64, 64, 2, 4.0), ["prompt"]),
        (("a red circle", "", 0, 12, 64, 64, 2, 4.0), ["12", "[9, 17]"]),
        (("a red circle", "", 0, 9, 60, 64, 2, 4.0), ["60", "64"]),
    ],
)
def test_generate_bad_input_names_value(served, args, needles):
    client, _ = served
    with pytest.raises(Exception) as err:
        client.predict(*args, api_name="/generate")
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def test_tokens(served):
    client, _ = served
    prompts = "a red circle to the left of a blue square\nthree yellow triangles\na green triangle appears"
    out = client.predict(prompts, "", 3, 5, 0, api_name="/tokens")
    plot_a, plot_b, plot_c, plot_d, stats, volatility, answers = out
    for plot in (plot_a, plot_b, plot_c, plot_d):
        assert plot is not None
    sources = [row[0] for row in stats["data"]]
    assert {"encoder", "LLM", "LLM after Norm & Scale", "fused"} <= set(sources)
    vol = {row[0]: row[1] for row in volatility["data"]}
    assert vol["query"] == pytest.approx(0, abs=1e-4)
    assert "Sampled answers" in answers


@pytest.mark.parametrize(
    ("args", "needles"),
    [(("red", "", 3, 90, 0), ["perplexity 90", "which is"]), (("", "", 3, 5, 0), ["no prompts"])],
)
def test_tokens_bad_input(served, args, needles):
    client, _ = served
    with pytest.raises(Exception) as err:
        client.predict(*args, api_name="/tokens")
    for needle in needles:
        assert needle in str(err.value), str(err.value)


def test_trial_vote_results_roundtrip(served):
    client, studio = served
    csv_path = studio.votes.path
    before = len(_csv_rows(csv_path))
    trial = client.predict("", api_name="/new_trial")
    trial_id, prompt, seed = trial[0], trial[1], trial[2]
    assert prompt in ("a red circle to the left of a blue square", "three yellow triangles")
    assert 0 <= seed <= app.MAX_SEED
    for video in trial[3:5]:
        path = video["video"] if isinstance(video, dict) else video
        name = Path(path).name.lower()
        assert "mimir" not in name and "cogvideox" not in name  # file names must not reveal the side

    out = client.predict(trial_id, "A", "tie", "both_bad", api_name="/vote")
    reveal = out[0] if isinstance(out, (list, tuple)) else out  # the button update is not an API output
    assert "Video A was" in reveal
    rows = _csv_rows(csv_path)
    assert len(rows) == before + 3
    new = rows[-3:]
    assert {r["criterion"] for r in new} == set(study.CRITERIA)
    assert all(r["trial_id"] == trial_id and r["seed"] == str(seed) and r["app_version"] for r in new)
    first = next(r for r in new if r["criterion"] == "instruction_following")
    assert first["chosen_model"] == first["model_left"]
    assert float(first["seconds_left"]) > 0 and first["num_inference_steps"] == str(FAST_STEPS)

    # a second vote on the same trial is refused and writes nothing
    with pytest.raises(Exception, match="already"):
        client.predict(trial_id, "B", "B", "B", api_name="/vote")
    assert len(_csv_rows(csv_path)) == before + 3

    summary, table2, bt, counts, _plot, csv_file = client.predict(api_name="/results")
    assert f"**{before // 3 + 1} votes" not in summary  # counts rows, not ballots
    assert f"{before + 3} votes" in summary
    assert table2["headers"][:3] == ["criterion", "CogVideoX %", "Mimir %"]
    assert {row[1] for row in bt["data"]} == {"CogVideoX", "Mimir"}
    assert Path(csv_file).read_text().startswith("timestamp_utc,")


def test_own_prompt_trial(served):
    client, _ = served
    trial = client.predict("a white circle disappears", api_name="/new_trial")
    assert trial[1] == "a white circle disappears"


@pytest.mark.parametrize(
    ("ballot", "needles"),
    [
        (("C", "A", "A"), ["C"]),
        ((None, "A", "A"), ["None", "instruction_following"]),
    ],
)
def test_vote_bad_input_writes_nothing(served, ballot, needles):
    client, studio = served
    trial_id = client.predict("", api_name="/new_trial")[0]
    before = _csv_rows(studio.votes.path)
    with pytest.raises(Exception) as err:
        client.predict(trial_id, *ballot, api_name="/vote")
    for needle in needles:
        assert needle in str(err.value), str(err.value)
    assert "both_bad" in str(err.value) or "both bad" in str(err.value)  # the allowed set is named
    assert _csv_rows(studio.votes.path) == before


def test_vote_unknown_trial(served):
    client, studio = served
    before = _csv_rows(studio.votes.path)
    with pytest.raises(Exception, match="unknown trial id 'nope'"):
        client.predict("nope", "A", "A", "A", api_name="/vote")
    assert _csv_rows(studio.votes.path) == before
