"""The shipped nano preset: real MiniLM + SmolLM2, trained video models, the CLI end to end, bad weights paths."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from moviepy import VideoFileClip

from mimir.__main__ import main as cli_main
from mimir.generation import GenerationSettings, compare
from mimir.loading import load_mimir_weights, load_pipelines
from mimir.presets import NANO_ASSETS


pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent
# What these tests check (loading, shapes, seeds, files, refusals) does not depend on the step count: 4, not the 20
# of the preset's defaults, keeps them quick on 2 cores.
STEPS = 4


def test_shipped_weights_load_and_generate(nano_pipes):
    assert nano_pipes.trained, "mimir/assets/nano weights are missing: the preset fell back to random weights"
    assert nano_pipes.mimir.token_fuser.config.fusion_type == "mimir"
    # the two columns share encoder, VAE and scheduler in memory
    assert nano_pipes.mimir.vae is nano_pipes.cogvideox.vae
    assert nano_pipes.mimir.text_encoder is nano_pipes.cogvideox.text_encoder
    assert nano_pipes.mimir.scheduler is nano_pipes.cogvideox.scheduler
    out = nano_pipes.mimir(
        ["a red circle", "a blue square"],
        generator=torch.Generator().manual_seed(0),
        output_type="np",
        **{**nano_pipes.defaults, "num_inference_steps": STEPS},
    ).frames
    assert out.shape == (2, 9, 64, 64, 3)


def test_real_text_branches(nano_pipes):
    encoding, fused = nano_pipes.mimir.encode_tokens(["two red circles to the left of a blue square"])
    encoder, llm = encoding.encoder, encoding.llm
    layers = len(nano_pipes.mimir.llm_branch.hidden_layers)
    assert layers == nano_pipes.mimir.token_fuser.config.num_llm_layers == 7  # the shipped weights' own settings
    assert encoder.embeds.shape == (1, 32, 384)
    assert llm.combined.embeds.shape == (1, 32, layers, 576)
    assert llm.instruction_embeds.shape == (1, 4, layers, 576)
    assert fused.embeds.shape == (1, 36, 384)
    words = "".join(llm.combined.token_strs[0]).replace("Ġ", " ").strip()
    assert words == "two red circles to the left of a blue square"  # only the prompt's own tokens
    # the paper's observation that motivates Norm & Scale: LLM features range far beyond the encoder's
    assert llm.combined.embeds.abs().max() > 4 * encoder.embeds.abs().max()


def test_compare_uses_the_same_seed_and_latents(nano_pipes):
    settings = GenerationSettings(
        prompt="a yellow triangle to the left of a blue square", seed=1, num_inference_steps=STEPS
    )
    a = compare(nano_pipes, settings)
    b = compare(nano_pipes, settings)
    for name in ("cogvideox", "mimir"):
        np.testing.assert_array_equal(a[name].frames, b[name].frames)
        assert a[name].frames.shape == (9, 64, 64, 3) and a[name].frames.dtype == np.uint8
        assert a[name].seconds > 0 and a[name].peak_memory_bytes > 0


def test_cli_compare_writes_two_playable_videos_and_json(tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "mimir",
        "compare",
        "--prompt",
        "two red circles to the left of a blue square",
        "--seed",
        "7",
        "--num-inference-steps",
        str(STEPS),
        "--out-dir",
        str(tmp_path),
    ]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "CogVideoX" in done.stdout and "Whole scene:" in done.stdout and "{" not in done.stdout  # a summary
    assert "gemm_4bit_forward" not in done.stderr  # bitsandbytes' optional-kernel warning is not shown
    report = json.loads((tmp_path / "compare.json").read_text())
    assert report["settings"]["seed"] == 7 and report["trained"] is True
    for name in ("cogvideox", "mimir"):
        assert report["results"][name]["seconds"] > 0
        verdicts = report["results"][name]["verdicts"]  # the app's NanoBench verdicts, in the JSON too
        assert verdicts["dimension"] == "spatial_relationship" and "count" in verdicts["checks"]
        with VideoFileClip(str(tmp_path / f"{name}.mp4")) as clip:
            frames = list(clip.iter_frames())
        assert len(frames) == 9 and frames[0].shape == (256, 256, 3)


@pytest.mark.parametrize(
    "args,message",
    [
        (["--prompt", "   "], "prompt"),
        (["--prompt", "a red circle", "--seed", "4294967296"], "seed=4294967296"),
        (["--prompt", "a red circle", "--num-frames", "12"], "num_frames=12"),
        (["--prompt", "a red circle", "--mimir-weights", "/nonexistent/weights"], "/nonexistent/weights"),
    ],
)
def test_cli_bad_input_names_the_value_and_writes_nothing(tmp_path, capsys, args, message):
    # In this process (the compare test above runs `python -m mimir` itself): the exit code main() returns, stderr.
    out = tmp_path / "v.mp4"
    assert cli_main(["generate", *args, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_mismatched_mimir_weights_are_refused(tmp_path):
    with pytest.raises(ValueError, match="is not a Mimir weights folder"):
        load_mimir_weights(tmp_path, 384, 576)
    with pytest.raises(ValueError, match="encoder_dim=384"):
        load_mimir_weights(NANO_ASSETS / "mimir", 4096, 3072)
    with pytest.raises(ValueError, match="fusion_type='mimir'"):
        load_mimir_weights(NANO_ASSETS / "mimir", 384, 576, fusion_type="zeroconv")
    with pytest.raises(ValueError, match="does not exist"):
        load_pipelines("nano", mimir_weights=tmp_path / "missing")


def test_shipped_llm_branch_settings_come_from_the_weights(tmp_path, monkeypatch):
    """Editing mimir/prompts/llm/branch.json must not change what the trained Mimir-nano sees."""
    import mimir.text_encoding as te

    saved = json.loads((NANO_ASSETS / "mimir" / "llm_branch.json").read_text())
    edited = tmp_path / "branch.json"
    edited.write_text(json.dumps({**json.loads(te.BRANCH_TEXTS.read_text()), "system_prompt": "Be a pirate."}))
    monkeypatch.setattr(te, "BRANCH_TEXTS", edited)
    _, fuser, branch = load_mimir_weights(NANO_ASSETS / "mimir", 384, 576)
    assert branch.system_prompt == saved["system_prompt"] != "Be a pirate."
    assert list(branch.hidden_layers) == saved["hidden_layers"] and len(branch.hidden_layers) == 7
