"""Stage 1: the nano CogVideoX VAE (diffusers `AutoencoderKLCogVideoX` at a small config) on nano-world videos.

Objects cover a few percent of the pixels, so a plain reconstruction loss can look fine while object colours are
lost (the feasibility run's VAE got 44% of object colours right). The L1 loss therefore weights object pixels
`object_weight` times more than background pixels; our choice. In world v2 (`--world v2`) the background is a place
(gradient and texture), so object pixels are those that differ from the item's own background image.
"""

import random
import time
from pathlib import Path

import torch
from accelerate import Accelerator
from diffusers import AutoencoderKLCogVideoX
from torch import nn

from mimir.presets import nano_v2_vae_config, nano_vae_config
from mimir.world.vocab import COLORS

from .checkpoint import LossLog, TrainingState, write_args
from .data import backgrounds_of, build_pool, render_items


def object_weights(video: torch.Tensor, object_weight: float, background: torch.Tensor | None = None) -> torch.Tensor:
    """(B, 3, F, H, W) in [-1, 1] -> per-pixel weights (B, 1, F, H, W): `object_weight` where the pixel differs from
    the background, else 1. The background is `background` (world v2: each item's image, (B, 3, 1, H, W)) or, by
    default, that frame's colour at the top-left corner (v1: one colour, and the renderer's margin keeps it empty)."""
    if background is None:
        background = video[..., :1, :1]  # (B, 3, F, 1, 1)
    is_object = (video - background).abs().amax(dim=1, keepdim=True) > 0.1  # (B, 1, F, H, W)
    return 1.0 + (object_weight - 1.0) * is_object.float()


@torch.no_grad()
def colour_fidelity(vae, pool, index: list[int], args, device) -> float:
    """Share of (video, colour) pairs whose reconstructed object pixels are nearest to the right palette colour.

    The feasibility run's lesson: L1 over the whole frame hides lost object colours, so measure them directly.
    """
    palette = torch.tensor(list(COLORS.values()), device=device, dtype=torch.float32) / 127.5 - 1.0  # (8, 3)
    video = render_items(pool, index, args.num_frames, args.height, args.width, device)  # (B, 3, F, H, W)
    recon = vae.decode(vae.encode(video).latent_dist.mode()).sample.float().clamp(-1, 1)
    right = total = 0
    for b in range(video.shape[0]):
        pixels = video[b].flatten(1).T  # (F*H*W, 3)
        for c, colour in enumerate(palette):
            exact = (pixels - colour).abs().amax(dim=1) < 1e-3  # pixels of this colour in the ground truth
            if exact.sum() < 10:
                continue
            mean = recon[b].flatten(1).T[exact].mean(dim=0)  # (3,)
            right += int(torch.cdist(mean[None], palette).argmin().item() == c)
            total += 1
    return right / max(total, 1)


class Reconstruction(nn.Module):
    """The VAE's training forward: encode, sample the posterior, decode. Returns `(recon, kl)`, (B, 3, F, H, W) and
    (B,).

    One `forward` because DDP (and FSDP) synchronise gradients only for what runs through the prepared module's
    `forward`: calling `vae.encode` / `vae.decode` on the unwrapped model trains each process on its own gradients.
    """

    def __init__(self, vae: AutoencoderKLCogVideoX):
        super().__init__()
        self.vae = vae

    def forward(self, video: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        posterior = self.vae.encode(video).latent_dist
        recon = self.vae.decode(posterior.sample()).sample  # (B, 3, F, H, W)
        return recon, posterior.kl()


def train_vae(args) -> Path:
    accelerator = Accelerator(mixed_precision=args.mixed_precision)
    run = Path(args.output_dir)
    if accelerator.is_main_process:
        write_args(run, args)
    torch.manual_seed(args.seed)
    world = getattr(args, "world", "v1")
    pool = build_pool(args.pool_size, args.seed, world)
    vae = (
        AutoencoderKLCogVideoX.from_pretrained(run / "vae")
        if (run / "vae" / "config.json").exists()
        else AutoencoderKLCogVideoX(**(nano_v2_vae_config() if world == "v2" else nano_vae_config()))
    )
    vae.train()
    optimizer = torch.optim.AdamW(vae.parameters(), lr=args.learning_rate, weight_decay=0.0)
    model, optimizer = accelerator.prepare(Reconstruction(vae), optimizer)
    state = TrainingState(accelerator, run)
    step = state.resume()
    log = LossLog(run) if accelerator.is_main_process else None
    rng = random.Random(args.seed * 1000 + accelerator.process_index + step)

    deadline = time.time() + 60 * args.time_limit_minutes if args.time_limit_minutes is not None else float("inf")
    while step < args.max_train_steps:
        out_of_time = time.time() > deadline
        index = [rng.randrange(len(pool)) for _ in range(args.train_batch_size)]
        video = render_items(
            pool, index, args.num_frames, args.height, args.width, accelerator.device
        )  # (B, 3, F, H, W)
        with accelerator.autocast():
            recon, kl = model(video)  # (B, 3, F, H, W), (B,)
        recon = recon.float()
        background = (
            backgrounds_of(pool, index, args.num_frames, args.height, args.width, accelerator.device)
            if world == "v2"
            else None
        )  # (B, 3, 1, H, W) or None (v1: the corner colour)
        l1 = (object_weights(video, args.object_weight, background) * (recon - video).abs()).mean()
        kl = kl.mean() / recon[0].numel()  # per pixel, comparable across sizes
        loss = l1 + args.kl_weight * kl
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        if log is not None:
            log.add(loss)
        if log is not None and (step % args.log_every == 0 or step == args.max_train_steps or out_of_time):
            log.write(step, loss.item(), args.learning_rate)
            print(f"vae step {step} loss {loss.item():.4f} l1 {l1.item():.4f} kl {kl.item():.4f}", flush=True)
        if step % args.checkpoint_every == 0 or step == args.max_train_steps or out_of_time:
            state.save(step, {"vae": accelerator.unwrap_model(model).vae})
        if out_of_time:
            break
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        vae = accelerator.unwrap_model(model).vae.eval()
        held = random.Random(12345)
        index = [held.randrange(len(pool)) for _ in range(256)]
        score = colour_fidelity(vae, pool, index, args, accelerator.device)
        print(f"vae colour fidelity on 256 pool videos: {score:.3f}", flush=True)
        (run / "colour_fidelity.txt").write_text(f"{score:.4f}\n")
    return run
