"""The cogvideox-5b preset from local folders: tiny components saved in the diffusers/transformers layouts load through
the preset's own loader; a missing folder or a wrong layout is refused, naming the path and the missing part, before
any model loads. The nano preset keeps its fixed models."""

import dataclasses
import shutil

import pytest
import torch

import app
from mimir.__main__ import main
from mimir.loading import load_pipelines
from mimir.model_sources import COGVIDEOX_LAYOUT, resolve_model_source
from mimir.presets import PRESETS

from .tiny import save_tiny_5b_folders, tiny_t5


CALL = dict(num_frames=9, height=16, width=16, num_inference_steps=2, guidance_scale=3.0, output_type="latent")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    return save_tiny_5b_folders(tmp_path_factory.mktemp("tiny5b"))


@pytest.fixture
def no_loading(monkeypatch):
    """The 5B preset with loaders that fail if called: a refusal must come before any model loads."""

    def boom(*args, **kwargs):
        raise AssertionError("a loader ran before the sources were checked")

    spec = PRESETS["cogvideox-5b"]
    monkeypatch.setitem(PRESETS, "cogvideox-5b", dataclasses.replace(spec, encoder=boom, llm=boom, video_models=boom))


def copy_without(folders, tmp_path, which: str, relative: str) -> dict:
    """The tiny folders with one part of `which` (base_model / llm) removed."""
    broken = tmp_path / which
    shutil.copytree(folders[which], broken)
    target = broken / relative
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    return {**folders, which: broken}


def test_5b_preset_loads_local_folders_through_its_loader(folders):
    pipes = load_pipelines("cogvideox-5b", device="cpu", llm_quantization="none", **folders)
    # the weights are the saved ones, in the preset's dtype
    _, t5 = tiny_t5()
    for name, value in t5.state_dict().items():
        assert torch.equal(pipes.mimir.text_encoder.state_dict()[name], value.to(torch.bfloat16)), name
    assert pipes.mimir.text_encoder.dtype == torch.bfloat16 and pipes.mimir.llm.dtype == torch.bfloat16
    assert pipes.mimir.token_fuser.config.fusion_type == "mimir"
    assert pipes.cogvideox.text_encoder is pipes.mimir.text_encoder and pipes.cogvideox.vae is pipes.mimir.vae
    assert pipes.mimir.config.max_sequence_length == 226
    for pipe in (pipes.cogvideox, pipes.mimir):
        latents = pipe("a red circle", generator=torch.Generator().manual_seed(0), **CALL).frames
        assert latents.shape == (1, 3, 4, 2, 2) and torch.isfinite(latents.float()).all()


@pytest.mark.parametrize(
    "which,relative",
    [
        ("base_model", "model_index.json"),
        ("base_model", "transformer/config.json"),
        ("base_model", "vae/config.json"),
        ("base_model", "text_encoder"),
        ("base_model", "tokenizer"),
        ("llm", "config.json"),
        ("llm", "model.safetensors"),
        ("llm", "tokenizer.json"),
    ],
)
def test_wrong_layout_is_refused_naming_the_path_and_the_part(folders, tmp_path, no_loading, which, relative):
    if relative == "tokenizer.json":  # the llm folder holds two tokenizer files: drop both
        broken = copy_without(folders, tmp_path, which, relative)
        (broken[which] / "tokenizer_config.json").unlink()
    else:
        broken = copy_without(folders, tmp_path, which, relative)
    part = relative.split("/")[0] if relative in ("text_encoder", "tokenizer", "model.safetensors") else relative
    with pytest.raises(ValueError) as err:
        load_pipelines("cogvideox-5b", device="cpu", **broken)
    message = str(err.value)
    assert f"{which}={str(broken[which])!r}" in message and part.replace("model.safetensors", "weights") in message


@pytest.mark.parametrize(
    "value,says",
    [
        ("/nonexistent/cogvideox", "no such folder, and not a Hub id of the form owner/name"),
        ("./relative/missing/model", "no such folder, and not a Hub id"),
        ("", "must be a Hub id (owner/name) or a folder"),
    ],
)
def test_missing_folder_is_refused_before_loading(folders, no_loading, value, says):
    with pytest.raises(ValueError, match="base_model=") as err:
        load_pipelines("cogvideox-5b", device="cpu", **{**folders, "base_model": value})
    assert says in str(err.value) and (value == "" or value in str(err.value))


def test_a_file_is_not_a_folder(folders, no_loading):
    config = folders["llm"] / "config.json"
    with pytest.raises(ValueError, match=f"llm={str(config)!r} is a file, not a transformers causal-LM folder"):
        load_pipelines("cogvideox-5b", device="cpu", **{**folders, "llm": config})


def test_hub_ids_pass_through_unchanged():
    assert resolve_model_source("THUDM/CogVideoX-5b", "base_model", COGVIDEOX_LAYOUT) == "THUDM/CogVideoX-5b"
    assert PRESETS["cogvideox-5b"].base_model == "THUDM/CogVideoX-5b"
    assert PRESETS["cogvideox-5b"].llm_model == "microsoft/Phi-3.5-mini-instruct"


def test_nano_refuses_model_sources(folders):
    with pytest.raises(ValueError, match="base_model=.*preset='nano' has fixed models"):
        load_pipelines("nano", base_model=folders["base_model"])
    with pytest.raises(ValueError, match="llm=.*preset='nano' has fixed models"):
        load_pipelines("nano", llm=folders["llm"])


def test_cli_refuses_a_wrong_base_model_folder(folders, tmp_path, no_loading, capsys):
    broken = copy_without(folders, tmp_path, "base_model", "transformer/config.json")
    code = main(
        [
            "generate",
            "--prompt",
            "a red circle",
            "--out",
            str(tmp_path / "x.mp4"),
            "--preset",
            "cogvideox-5b",
            "--mimir-weights",
            str(folders["mimir_weights"]),
            "--base-model",
            str(broken["base_model"]),
            "--llm",
            str(folders["llm"]),
        ]
    )
    err = capsys.readouterr().err
    assert code == 2 and f"base_model={str(broken['base_model'])!r}" in err and "transformer/config.json" in err


def test_app_reads_the_sources_from_flags_and_space_variables(monkeypatch, folders):
    monkeypatch.setenv("MIMIR_BASE_MODEL", str(folders["base_model"]))
    monkeypatch.setenv("MIMIR_LLM", "my-org/phi-mirror")
    args = app.parse_args(["--preset", "cogvideox-5b"])
    assert args.base_model == str(folders["base_model"]) and args.llm == "my-org/phi-mirror"
    args = app.parse_args(["--base-model", "/models/cogvideox", "--llm", "/models/phi"])
    assert (args.base_model, args.llm) == ("/models/cogvideox", "/models/phi")  # a flag wins over the variable
    monkeypatch.delenv("MIMIR_BASE_MODEL")
    monkeypatch.delenv("MIMIR_LLM")
    assert (app.parse_args([]).base_model, app.parse_args([]).llm) == (None, None)  # the preset's defaults
