"""benchmarks/dit_flops.py's FLOP count of a CogVideoX step against PyTorch's own FLOP counter on a small DiT."""

import torch
from diffusers import CogVideoXTransformer3DModel
from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_3d_rotary_pos_embed
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from .scripts import load_benchmark


dit_flops = load_benchmark("dit_flops")


def test_step_flops_match_pytorchs_counter():
    torch.manual_seed(0)
    dit = CogVideoXTransformer3DModel(
        num_attention_heads=4,
        attention_head_dim=64,
        in_channels=4,
        out_channels=4,
        time_embed_dim=64,
        text_embed_dim=32,
        num_layers=2,
        sample_width=32,
        sample_height=32,
        sample_frames=9,
        patch_size=2,
        max_text_seq_length=16,
        use_rotary_positional_embeddings=True,
    ).eval()
    latents = torch.randn(2, 3, 4, 32, 32)  # (B = CFG's 2, latent frames of 9 frames, C, H/8, W/8): 256x256 pixels
    rope = get_3d_rotary_pos_embed(64, ((0, 0), (16, 16)), grid_size=(16, 16), temporal_size=3)
    # The math backend: PyTorch's counter does not see inside the CPU's fused attention kernel.
    with torch.no_grad(), sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter:
        dit(latents, torch.randn(2, 16, 32), timestep=torch.tensor([10, 10]), image_rotary_emb=rope)
    ours = dit_flops.step_flops(dit.config, num_frames=9, height=256, width=256, text_tokens=16)
    # what the count leaves out (patch embedding, timestep MLP, adaptive norms, output projection) is 0.4% here
    assert 0.99 < ours / counter.get_total_flops() < 1.0


def test_the_5b_step_and_the_peak():
    config = dict(num_attention_heads=48, attention_head_dim=64, num_layers=42, patch_size=2)
    # S = 13 x 30 x 45 + 226 = 17,776; D = 3072: 2 x 42 x (24 D^2 S + 4 S^2 D)
    assert abs(dit_flops.step_flops(config, 49, 480, 720, 226) / 1e12 - 664.4) < 0.05
    assert dit_flops.peak_tflops("NVIDIA H200") == 989.4
