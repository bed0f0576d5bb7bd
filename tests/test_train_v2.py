"""The nano recipe on world v2 (`python -m mimir train ... --world v2`) and the `nano-v2` preset (issue 23, item 6).

Fast: every stage (VAE, DiT from scratch, the Mimir and t5_only fine-tunes, export) runs two steps on the CPU at
32x32 with the recipe's own v2 VAE and DiT configs; the frozen text branches are tests/tiny.py's (the real MiniLM
tokenizer with a 2-layer BERT, the SmolLM2 tokenizer with a 2-layer Llama), so that no stage waits for the real
text models (tests/test_train.py runs v1's stages with them). The preset's test with the real text models is slow.
"""

import logging

import numpy as np
import pytest
import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel

from mimir.presets import (
    NANO_FAMILIES,
    PRESETS,
    nano_transformer_config,
    nano_v2_transformer_config,
    nano_v2_vae_config,
    nano_vae_config,
)
from mimir.text_models import load_smollm2_tokenizer
from mimir.token_fuser import load_token_fuser
from mimir.train import cli_main, parse_args
from mimir.train.data import backgrounds_of, build_pool, render_items
from mimir.train.diffusion import check_world_models, rotary_embeddings, train_dit
from mimir.train.vae import object_weights, train_vae
from mimir.world.v2 import vocab
from mimir.world.v2.render import HEIGHT, NUM_FRAMES, WIDTH, render_layout
from mimir.world.v2.sampler import heldout_compositions
from mimir.world.v2.spec import SceneSpec as V2SceneSpec

from .test_presets import preset_pipeline
from .test_train import distinct_fidelity_videos, steps_logged  # noqa: F401 (a fixture)
from .tiny import ENCODER_DIM, LLM_DIM, tiny_llm, tiny_text_encoder


SMALL = ["--world", "v2", "--pool-size", "8", "--height", "32", "--width", "32", "--train-batch-size", "2"]
SMALL += ["--log-every", "1", "--checkpoint-every", "2"]


@pytest.fixture
def tiny_text_branches(monkeypatch):
    """The DiT stages' frozen text models -> tiny seeded ones (real tokenizers): what is under test is the stages."""
    llm_tokenizer = load_smollm2_tokenizer()
    monkeypatch.setattr("mimir.train.diffusion.load_minilm", lambda device: tiny_text_encoder())
    monkeypatch.setattr("mimir.train.diffusion.load_smollm2", lambda device: (llm_tokenizer, tiny_llm(llm_tokenizer)))


# ---- configs, CLI defaults, the pool --------------------------------------------------------------------------------


def test_v2_configs_take_world_v2s_size_and_v1s_blocks():
    vae, dit = nano_v2_vae_config(), nano_v2_transformer_config()
    F, H, W = NUM_FRAMES, HEIGHT, WIDTH  # the one home of the v2 size
    assert (vae["sample_height"], vae["sample_width"]) == (H, W)
    assert (dit["sample_frames"], dit["sample_height"], dit["sample_width"]) == (F, H // 8, W // 8)
    # v1's blocks; only the size, the patch and n differ
    same = {k: v for k, v in nano_transformer_config().items() if k in dit and dit[k] == v}
    assert set(nano_transformer_config()) - set(same) == {
        "sample_frames", "sample_height", "sample_width", "patch_size", "max_text_seq_length"
    }  # fmt: skip
    assert {k: v for k, v in vae.items() if not k.startswith("sample_")} == {
        k: v for k, v in nano_vae_config().items() if not k.startswith("sample_")
    }
    p, n = dit["patch_size"], PRESETS["nano-v2"].max_sequence_length
    assert dit["max_text_seq_length"] == n + 4  # Mimir's n + 4 (the stabilizer's instruction tokens)
    video_tokens = ((F - 1) // 4 + 1) * (H // 8 // p) * (W // 8 // p)
    assert video_tokens == 180  # 5 latent frames x 6 x 6: v1 has 3 x 8 x 8 = 192
    assert NANO_FAMILIES["v2"].preset == "nano-v2" and NANO_FAMILIES["v1"].preset == "nano"


def test_train_cli_world_defaults():
    v1 = parse_args(["dit", "--output-dir", "x", "--max-train-steps", "1", "--vae", "v"])
    assert (v1.world, v1.num_frames, v1.height, v1.width, v1.max_sequence_length) == ("v1", 9, 64, 64, 32)
    v2 = parse_args(["dit", "--output-dir", "x", "--max-train-steps", "1", "--vae", "v", "--world", "v2"])
    d = PRESETS["nano-v2"].defaults
    assert (v2.num_frames, v2.height, v2.width) == (d.num_frames, d.height, d.width) == (17, 96, 96)
    assert v2.max_sequence_length == PRESETS["nano-v2"].max_sequence_length and v2.train_batch_size == 64
    vae = parse_args(["vae", "--output-dir", "x", "--max-train-steps", "1", "--world", "v2", "--height", "32"])
    assert (vae.num_frames, vae.height, vae.width) == (17, 32, 96)
    with pytest.raises(SystemExit, match="--world v2 is a nano world; with --data"):
        parse_args(["dit", "--output-dir", "x", "--max-train-steps", "1", "--data", "d", "--world", "v2"])
    with pytest.raises(SystemExit):  # argparse: invalid choice
        parse_args(["vae", "--output-dir", "x", "--max-train-steps", "1", "--world", "v3"])


def test_v2_pool_is_world_v2_training_compositions_and_renders():
    pool = build_pool(70, seed=0, world="v2")
    assert pool.world == "v2" and len(pool) == 70 and all(isinstance(s, V2SceneSpec) for s in pool.specs)
    assert {s.dimension for s in pool.specs} == set(vocab.CATEGORIES)  # 70 uniform draws meet all seven
    assert not [s.id for s in pool.specs if heldout_compositions(s)]  # training never meets a held-out composition
    assert len(set(pool.captions)) > 60 and all(c and c != "-" for c in pool.captions)
    again = build_pool(70, seed=0, world="v2")
    assert again.captions == pool.captions and again.seeds == pool.seeds  # a pool seed gives the same pool
    video = render_items(pool, [0, 1], 17, 32, 32, "cpu")
    assert video.shape == (2, 3, 17, 32, 32) and video.min() >= -1 and video.max() <= 1
    assert build_pool(3, seed=0).world == "v1"  # the default stays v1


def test_v2_object_weights_follow_the_objects_not_the_textured_background():
    """v2 places have gradients and textures: the v1 rule (the corner's colour is the background) would weight much
    of the background as object. With each item's background image, weight > 1 exactly where the renderer's layout
    puts an object."""
    pool = build_pool(12, seed=3, world="v2")
    index = [i for i, s in enumerate(pool.specs) if s.background != "plain"][:4]
    F, H, W = 17, 48, 48
    video = render_items(pool, index, F, H, W, "cpu")  # (B, 3, F, H, W)
    ours = object_weights(video, 10.0, backgrounds_of(pool, index, F, H, W, "cpu")) > 1  # (B, 1, F, H, W)
    corner = object_weights(video, 10.0) > 1
    for b, i in enumerate(index):
        lay = render_layout(pool.specs[i], pool.seeds[i], F, H, W)
        ys, xs = np.mgrid[0:H, 0:W] + 0.5
        for t in (0, F - 1):
            near = np.zeros((H, W), bool)  # within the copy's (rotated) box of a shown copy, plus the soft edge
            for k in range(len(lay.shapes)):
                if lay.visible[t, k]:
                    cx, cy = lay.centers[t, k]
                    near |= np.hypot(xs - cx, ys - cy) <= lay.radius[t, k] * 2**0.5 + 1.5
            mask = ours[b, 0, t].numpy()
            assert not (mask & ~near).any()  # nothing off the objects is weighted
            for k in np.flatnonzero(lay.visible[t]):  # each shown copy is, at its centre
                cx, cy = lay.centers[t, k]
                assert mask[min(int(cy), H - 1), min(int(cx), W - 1)], (pool.specs[i].id, t, k)
    assert corner.float().mean() > 3 * ours.float().mean()  # what the v1 rule would have done here


def test_a_model_of_the_other_world_is_refused():
    check_world_models("v2", nano_v2_vae_config(), nano_v2_transformer_config())
    check_world_models("v1", nano_vae_config(), nano_transformer_config())
    with pytest.raises(ValueError, match=r"vae's sample_height=64 differs from world v2's 96 \(nano-v2 preset\)"):
        check_world_models("v2", nano_vae_config())
    with pytest.raises(ValueError, match="transformer's sample_height=12 differs from world v1's 8 \\(nano preset\\)"):
        check_world_models("v1", None, nano_v2_transformer_config())


@pytest.mark.parametrize("height,width", [(96, 96), (32, 32)])
def test_v2_rotary_tables_equal_the_pipelines(height, width):
    """Training's RoPE tables with patch 2 are the ones `CogVideoXPipeline` builds at generation."""
    from diffusers import CogVideoXPipeline

    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(**{**nano_v2_transformer_config(), "num_layers": 1})
    pipe = CogVideoXPipeline(tokenizer=None, text_encoder=None, vae=None, transformer=transformer, scheduler=None)
    expected = pipe._prepare_rotary_positional_embeddings(height, width, 5, torch.device("cpu"))
    ours = rotary_embeddings(transformer, 8, height, width, 5, "cpu")
    for table, reference in zip(ours, expected, strict=True):
        assert table.shape == (5 * (height // 16) * (width // 16), transformer.config.attention_head_dim)
        torch.testing.assert_close(table, reference, rtol=0, atol=0)


# ---- every stage, tiny ----------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("tiny_text_branches", "distinct_fidelity_videos")
def test_every_v2_stage_runs_resumes_and_exports(tmp_path):
    vae_run = tmp_path / "vae"
    train_vae(parse_args(["vae", "--output-dir", str(vae_run), "--max-train-steps", "2", *SMALL]))
    vae = AutoencoderKLCogVideoX.from_pretrained(vae_run / "vae")
    assert vae.config.sample_height == 96 and steps_logged(vae_run) == [1, 2]  # the v2 config, trained at 32x32
    assert 0.0 <= float((vae_run / "colour_fidelity.txt").read_text()) <= 1.0

    cache = tmp_path / "cache"
    common = ["--vae", str(vae_run / "vae"), "--encode-batch-size", "8", "--cache-dir", str(cache), *SMALL]
    base = tmp_path / "cogvideox"
    train_dit(parse_args(["dit", "--output-dir", str(base), "--max-train-steps", "2", *common]))
    first = CogVideoXTransformer3DModel.from_pretrained(base / "transformer")
    assert first.config.patch_size == 2 and first.config.sample_frames == 17 and first.config.sample_height == 12
    assert first.config.text_embed_dim == ENCODER_DIM and first.config.max_text_seq_length == 64 + 4
    train_dit(parse_args(["dit", "--output-dir", str(base), "--max-train-steps", "3", *common]))  # resumes
    assert steps_logged(base) == [1, 2, 3]
    resumed = CogVideoXTransformer3DModel.from_pretrained(base / "transformer")
    assert any(not torch.equal(a, b) for a, b in zip(first.parameters(), resumed.parameters()))
    # v2's pool latents have their own cache name: a v1 run of the same pool size and seed never reads them
    assert [p.name.split("_vae")[0] for p in cache.glob("latents_*.pt")] == ["latents_pool8_seed0_17x32x32_worldv2"]

    for fusion in ("mimir", "t5_only"):  # the two fine-tunes of the v1 recipe, from the same base
        run = tmp_path / f"ft_{fusion}"
        # the v1 fine-tunes' options; --llm-hidden-layers 1,-1: both layers of the tiny LLM
        argv = f"dit --output-dir {run} --fusion-type {fusion} --init-transformer {base / 'transformer'}".split()
        recipe = "--max-train-steps 2 --seed 1 --llm-hidden-layers 1,-1 --encoder-dropout 0.3"
        recipe += " --fuser-learning-rate 1e-3 --lr-warmup-steps 1"
        train_dit(parse_args([*argv, *recipe.split(), *common]))
        assert steps_logged(run) == [1, 2]
        fuser = load_token_fuser(run / "token_fuser")  # t5_only has no weights file
        assert fuser.config.fusion_type == fusion
        if fusion == "mimir":
            assert fuser.config.llm_dim == LLM_DIM and fuser.config.num_llm_layers == 2
            assert fuser.llm_proj.weight.abs().sum() > 0  # the zero-convs have left zero

    assert cli_main(["export", "--run", str(tmp_path / "ft_mimir"), "--out", str(tmp_path / "m.tar"), "--fp16"]) == 0
    assert (tmp_path / "m.tar").stat().st_size > 0


@pytest.mark.usefixtures("tiny_text_branches")
def test_the_v2_dit_stage_refuses_a_v1_vae(tmp_path):
    torch.manual_seed(0)
    AutoencoderKLCogVideoX(**nano_vae_config()).save_pretrained(tmp_path / "v1_vae")
    argv = ["dit", "--output-dir", str(tmp_path / "run"), "--max-train-steps", "1", "--vae", str(tmp_path / "v1_vae")]
    with pytest.raises(ValueError, match="sample_height=64 differs from world v2's 96"):
        train_dit(parse_args([*argv, *SMALL]))


# ---- the nano-v2 preset ---------------------------------------------------------------------------------------------


def test_nano_v2_without_weights_is_random_untrained_and_says_so(tmp_path, monkeypatch, caplog):
    monkeypatch.setattr("mimir.presets.NANO_V2_ASSETS", tmp_path / "absent")
    preset = PRESETS["nano-v2"]
    with caplog.at_level(logging.WARNING, logger="mimir.presets"):
        video = preset.video_models(preset.dtype)
    assert not video.trained
    assert f"nano-v2 weights not found under {tmp_path / 'absent'}: using seeded random video models (UNTRAINED)" in (
        caplog.text
    )
    assert video.transformer.config.patch_size == 2 and video.vae.config.sample_height == 96
    again = preset.video_models(preset.dtype)  # seeded: the same random models each time
    assert all(torch.equal(a, b) for a, b in zip(video.transformer.parameters(), again.transformer.parameters()))
    # its defaults are calls its own pipeline accepts (as tests/test_presets.py checks for the other presets)
    pipe = preset_pipeline(preset, video.vae, video.transformer, video.scheduler)
    d = preset.defaults
    supported = pipe.supported_inputs
    assert d.num_frames in supported.num_frames and (d.height, d.width) == (96, 96)
    assert d.height in supported.height and d.width in supported.width
    assert PRESETS["nano"].defaults.num_frames == 9 and list(PRESETS)[0] == "nano"  # nano stays v1, the default


def test_nano_v2_loads_trained_weights_once_they_are_there(tmp_path, monkeypatch):
    """Issue 24's export laid out as v1's assets (`vae/`, `cogvideox/transformer/`): the preset loads those weights
    and says trained=True."""
    torch.manual_seed(5)
    vae = AutoencoderKLCogVideoX(**nano_v2_vae_config())
    dit = CogVideoXTransformer3DModel(**{**nano_v2_transformer_config(), "num_layers": 1})
    vae.save_pretrained(tmp_path / "vae")
    dit.save_pretrained(tmp_path / "cogvideox" / "transformer")
    monkeypatch.setattr("mimir.presets.NANO_V2_ASSETS", tmp_path)
    video = PRESETS["nano-v2"].video_models(torch.float32)
    assert video.trained and video.transformer.config.num_layers == 1
    assert all(torch.equal(a, b) for a, b in zip(dit.parameters(), video.transformer.parameters()))


@pytest.mark.slow
def test_nano_v2_loads_both_pipelines_untrained_and_generates(tmp_path, monkeypatch, caplog):
    """The whole preset with the real MiniLM and SmolLM2: both pipelines, `trained=False`, a 17x96x96 video."""
    from mimir.loading import load_pipelines

    monkeypatch.setattr("mimir.presets.NANO_V2_ASSETS", tmp_path / "absent")
    with caplog.at_level(logging.WARNING, logger="mimir.presets"):
        pipes = load_pipelines("nano-v2", device="cpu")
    assert not pipes.trained and "(UNTRAINED)" in caplog.text and pipes.preset == "nano-v2"
    assert pipes.mimir.transformer.config.patch_size == 2
    prompt = "a red star rises while a blue heart slides to the left, on the grass"
    call = {**pipes.defaults, "num_inference_steps": 2}
    out = pipes.mimir(prompt, generator=torch.Generator().manual_seed(0), output_type="np", **call).frames
    assert out.shape == (1, 17, 96, 96, 3)
