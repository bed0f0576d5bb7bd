"""benchmarks/full_scale.py end to end at tiny shapes on the CPU (`--tiny`, mode `none`), so that the GPU run's script
cannot rot: it builds the folders, loads them through the preset, measures the three pipelines and writes its report.
Its published configs are checked for the sizes the 5B components are known to have."""

import json

import pytest
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
from transformers import Phi3Config, Phi3ForCausalLM, T5Config, T5EncoderModel

from mimir.bench import random_5b

from .scripts import load_benchmark


full_scale = load_benchmark("full_scale")


def test_tiny_run_writes_the_report(tmp_path):
    out = tmp_path / "report.json"
    args = ["--tiny", "--root", str(tmp_path / "models"), "--steps", "2", "--llm-quantization", "none"]
    args += ["--repeats", "2", "--device", "cpu", "--json", str(out)]
    full_scale.main(full_scale.build_parser().parse_args(args))
    report = json.loads(out.read_text())
    assert report["scale"] == "tiny" and report["settings"]["steps_measured"] == 2
    assert report["settings"]["repeats"] == 2
    assert report["environment"]["versions"]["diffusers"] and "command" in report and "date" in report
    rows = {(r["mode"], r["model"]): r for r in report["results"]}
    assert set(rows) == {("none", "diffusers"), ("none", "cogvideox"), ("none", "mimir")}
    for row in rows.values():
        assert 0 < row["seconds_per_step"] < row["seconds_per_video_50"]
        assert row["peak_host_rss_bytes"] > 0 and row["peak_gpu_allocated_bytes"] is None  # CPU
    # our CogVideoX is diffusers' pipeline on the same modules; Mimir's condition differs, and only it runs the LLM
    assert rows[("none", "cogvideox")]["max_abs_latent_diff_to_diffusers"] == 0.0
    assert rows[("none", "mimir")]["max_abs_latent_diff_to_diffusers"] > 0.0
    assert rows[("none", "mimir")]["seconds_llm"] > 0 == rows[("none", "cogvideox")]["seconds_llm"]
    assert rows[("none", "diffusers")]["ratio_to_diffusers"] == 1.0
    for row in rows.values():  # two timed calls each; the figures are their medians, the ratios paired per round
        each = row["seconds_per_video_50_each"]
        assert row["repeats"] == len(each) == 2 and row["seconds_per_video_50"] == pytest.approx(sum(each) / 2)
    mimir, cog = rows[("none", "mimir")], rows[("none", "cogvideox")]
    paired = [m / c for m, c in zip(mimir["seconds_per_video_50_each"], cog["seconds_per_video_50_each"])]
    assert mimir["ratio_to_cogvideox"] == pytest.approx(sum(paired) / 2) and cog["ratio_to_cogvideox"] == 1.0
    assert report["table"].count("\n") == 4  # header, rule, three rows
    assert (tmp_path / "models" / "mimir" / "transformer").is_symlink()  # one DiT on disk, two in memory


def test_tiny_run_with_fast_adds_the_fast_rows(tmp_path):
    """--fast at tiny shapes on the CPU: the cache alone (no compilation off CUDA), timed over all its steps."""
    out = tmp_path / "report.json"
    args = ["--tiny", "--root", str(tmp_path / "models"), "--steps", "3", "--llm-quantization", "none", "--fast"]
    full_scale.main(full_scale.build_parser().parse_args([*args, "--fast-steps", "3", "--json", str(out)]))
    report = json.loads(out.read_text())
    rows = {r["model"]: r for r in report["results"]}
    assert set(rows) == {"diffusers", "cogvideox", "mimir", "cogvideox fast", "mimir fast"}
    assert report["settings"]["fast"] is True and report["settings"]["fast_steps"] == 3
    for name in ("cogvideox fast", "mimir fast"):
        row = rows[name]
        assert row["fast_settings"]["cache"] == "first_block" and row["fast_settings"]["compile"] is False
        assert row["extrapolation"] == "denoising x 50/3" and row["seconds_warmup_call"] > 0
        assert 0 < row["dit_block_forwards_computed"] <= 1 and row["ratio_to_diffusers"] > 0
        assert row["max_abs_latent_diff_to_exact"] is not None  # same step count: comparable
    assert report["table"].count("\n") == 6  # header, rule, five rows


def test_offload_modes_are_refused_on_the_cpu(tmp_path):
    args = full_scale.build_parser().parse_args(["--tiny", "--root", str(tmp_path), "--device", "cpu"])
    args.modes = ["model_offload"]
    with pytest.raises(SystemExit, match=r"--modes \['model_offload'\]: on device='cpu' only 'none' runs"):
        full_scale.main(args)
    args = full_scale.build_parser().parse_args(["--tiny", "--root", str(tmp_path), "--steps", "1"])
    with pytest.raises(SystemExit, match="--steps=1: at least 2"):
        full_scale.main(args)
    args = full_scale.build_parser().parse_args(["--tiny", "--root", str(tmp_path), "--repeats", "0"])
    with pytest.raises(SystemExit, match="--repeats=0: at least 1"):
        full_scale.main(args)
    assert not (tmp_path / "COMPLETE").exists()  # refused before anything was built


def test_published_configs_have_the_published_sizes():
    """Parameter counts (on `meta`, no memory) against the bf16 sizes of the published checkpoints: T5-v1.1-XXL encoder
    ~9.5 GB, Phi-3.5-mini 3.8B parameters, the CogVideoX-5B DiT ~11.1 GB, its VAE ~0.43 GB."""
    with torch.device("meta"):
        counts = {
            "transformer": CogVideoXTransformer3DModel(**random_5b.COGVIDEOX_5B_TRANSFORMER),
            "vae": AutoencoderKLCogVideoX(**random_5b.COGVIDEOX_5B_VAE),
            "text_encoder": T5EncoderModel(T5Config(**random_5b.T5_V1_1_XXL)),
            "llm": Phi3ForCausalLM(Phi3Config(**random_5b.PHI_35_MINI_CONFIG)),
        }
        counts = {k: sum(p.numel() for p in m.parameters()) / 1e9 for k, m in counts.items()}
    assert counts["transformer"] == pytest.approx(5.57, abs=0.01)
    assert counts["vae"] == pytest.approx(0.216, abs=0.001)
    assert counts["text_encoder"] == pytest.approx(4.76, abs=0.01)
    assert counts["llm"] == pytest.approx(3.82, abs=0.01)
    # diffusers' defaults are CogVideoX-2B's: the 5B departs from them in width, depth, RoPE and the VAE's scale only
    differences = full_scale.config_differences(random_5b.FULL)
    assert set(differences["transformer"]) == {"num_attention_heads", "num_layers", "use_rotary_positional_embeddings"}
    assert differences["vae"] == {"scaling_factor": [0.7, 1.15258426]}
    # transformers' Phi3Config defaults are Phi-3-mini-4k's, the same shapes: only the context settings differ
    assert {"hidden_size", "num_hidden_layers", "intermediate_size", "vocab_size"}.isdisjoint(differences["llm"])
