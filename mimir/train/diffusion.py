"""Stages 2 and 3: the CogVideoX-nano DiT (encoder branch only) and the Mimir fine-tune (TokenFuser + DiT).

The recipe is CogVideoX's: v-prediction on VAE latents with the zero-terminal-SNR DDIM schedule, uniform timesteps,
caption dropout to the empty caption for classifier-free guidance. (CogVideoX's fine-tuning scripts weight the x0
error by 1 / (1 - alpha_bar_t), which equals the plain v-prediction MSE used here.)

Stage 2 (`--fusion-type t5_only`, no `--init-transformer`): train the DiT from scratch: the "pretrained CogVideoX".
Stage 3 (`--init-transformer RUN/transformer --fusion-type mimir`): add the LLM branch through the TokenFuser and train
fuser + DiT, as the paper does. Every other fusion type (and t5_only itself, the control without the LLM) is
fine-tuned from the same starting point with the same budget for the ablation.

`--world v2` runs the same stages on world v2 (its pool, size and n; the `nano-v2` DiT config), and refuses a VAE or
a starting DiT built for the other world's size (`check_world_models`).
"""

import hashlib
import json
from pathlib import Path

import torch
import torch.nn.functional as F
from accelerate import Accelerator
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
from diffusers.models.embeddings import get_3d_rotary_pos_embed
from diffusers.pipelines.cogvideo.pipeline_cogvideox import get_resize_crop_region_for_grid

from mimir.presets import NANO_FAMILIES, nano_scheduler
from mimir.text_encoding import LLM_BRANCH_FILE, LLMBranchConfig, PromptEncoder
from mimir.text_models import load_minilm, load_smollm2
from mimir.token_fuser import TokenFuser, load_token_fuser

from .checkpoint import LossLog, TrainingState, weights_digest, write_args
from .data import build_pool, encode_captions, render_items
from .loop import TimeLimit, caption_dropout, step_due


def rotary_embeddings(
    transformer: CogVideoXTransformer3DModel,
    vae_scale_spatial: int,
    height: int,
    width: int,
    latent_frames: int,
    device: torch.device | str,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The DiT's 3D RoPE tables (cos, sin), each (F_lat * h * w / p^2, head_dim), as `CogVideoXPipeline` builds them
    for a CogVideoX 1.0 DiT: the token grid is placed in the DiT's training grid, then `get_3d_rotary_pos_embed`."""
    config = transformer.config
    if config.patch_size_t is not None:
        raise ValueError(f"patch_size_t={config.patch_size_t}: only CogVideoX 1.0 DiTs (patch_size_t=None) train here")
    p = config.patch_size
    grid = (height // (vae_scale_spatial * p), width // (vae_scale_spatial * p))  # (h / p, w / p)
    crops = get_resize_crop_region_for_grid(grid, config.sample_width // p, config.sample_height // p)
    return get_3d_rotary_pos_embed(
        embed_dim=config.attention_head_dim,
        crops_coords=crops,
        grid_size=grid,
        temporal_size=latent_frames,
        device=device,
    )


@torch.no_grad()
def encode_pool_latents(vae, pool, args, device, generator: torch.Generator) -> torch.Tensor:
    """VAE latents of every pool video, (N, F_lat, C, h, w) in fp16 (the DiT's layout), computed once."""
    latents = []
    for start in range(0, len(pool), args.encode_batch_size):
        index = list(range(start, min(start + args.encode_batch_size, len(pool))))
        video = render_items(pool, index, args.num_frames, args.height, args.width, device)  # (B, 3, F, H, W)
        z = vae.encode(video).latent_dist.sample(generator) * vae.config.scaling_factor  # (B, C, F_lat, h, w)
        latents.append(z.permute(0, 2, 1, 3, 4).half())  # (B, F_lat, C, h, w)
    return torch.cat(latents)


def _cached(path: Path | None, build):
    """Pool latents and text features are deterministic: keep them between runs of the same pool."""
    if path is not None and path.exists():
        return torch.load(path, weights_only=False)
    value = build()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(value, path)
    return value


# What a VAE or DiT must share with the world's own config to train on it: the sample size its RoPE grid, latent
# and patches were built for. (The VAE is fully convolutional; its recorded sample size tells the world it trained on.)
_WORLD_KEYS = {"vae": ("sample_height", "sample_width"), "transformer": ("sample_height", "sample_width",
               "sample_frames", "patch_size")}  # fmt: skip


def check_world_models(world: str, vae_config, transformer_config=None) -> None:
    """Refuse a VAE (`--vae`) or a DiT (`--init-transformer`, a resumed run) built for another world's size, naming
    the key and both values; a v1 VAE would encode v2 renders it never saw, a v1 DiT would read a latent grid it
    never had."""
    family = NANO_FAMILIES[world]
    for name, config, expected in (
        ("vae", vae_config, family.vae_config()),
        ("transformer", transformer_config, None if transformer_config is None else family.transformer_config()),
    ):
        if config is None:
            continue
        for key in _WORLD_KEYS[name]:
            if config[key] != expected[key]:
                raise ValueError(
                    f"the {name}'s {key}={config[key]} differs from world {world}'s {expected[key]} "
                    f"({family.preset} preset): train it with --world {world}"
                )


def llm_branch_of_run(run: Path, args) -> LLMBranchConfig:
    """The run's LLM-branch settings: read back from `llm_branch.json` when resuming (so that editing
    `mimir/prompts/llm/branch.json` never changes a run), else the texts of that file with `--llm-hidden-layers`."""
    requested = LLMBranchConfig.from_file(hidden_layers=tuple(args.llm_hidden_layers))
    if (run / LLM_BRANCH_FILE).exists():
        saved = LLMBranchConfig.load(run)
        if saved.hidden_layers != requested.hidden_layers:
            raise ValueError(
                f"--llm-hidden-layers {list(requested.hidden_layers)} differs from the run's saved "
                f"{list(saved.hidden_layers)} ({run / LLM_BRANCH_FILE}): start a new --output-dir instead"
            )
        return saved
    return requested


def train_dit(args) -> Path:
    accelerator = Accelerator(mixed_precision=args.mixed_precision)
    device = accelerator.device
    run = Path(args.output_dir)
    if accelerator.is_main_process:
        write_args(run, args)
    torch.manual_seed(args.seed)
    with_llm = args.fusion_type != "t5_only"
    llm_branch = llm_branch_of_run(run, args)
    if accelerator.is_main_process:
        llm_branch.save(run)  # the settings belong to the weights: export and the presets read them from here
    world = getattr(args, "world", "v1")
    pool = build_pool(args.pool_size, args.seed, world)
    cache = Path(args.cache_dir) if args.cache_dir else None
    tag = f"pool{args.pool_size}_seed{args.seed}_{args.num_frames}x{args.height}x{args.width}"
    if world != "v1":  # v1's cache names stay as they were
        tag += f"_world{world}"

    vae = AutoencoderKLCogVideoX.from_pretrained(args.vae, torch_dtype=torch.float32).to(device).eval()
    check_world_models(world, vae.config)
    latents = _cached(
        cache / f"latents_{tag}_vae{weights_digest(args.vae)}.pt" if cache else None,
        lambda: encode_pool_latents(vae, pool, args, device, torch.Generator(device).manual_seed(args.seed)),
    ).to(device)  # (N, F_lat, C, h, w)
    vae_scale_spatial = 2 ** (len(vae.config.block_out_channels) - 1)
    vae.to("cpu")  # only needed for the latents above

    def features():
        tokenizer, text_encoder = load_minilm(device)
        llm_tokenizer, llm = load_smollm2(device) if with_llm else (None, None)
        encoder = PromptEncoder(
            tokenizer,
            text_encoder,
            llm_tokenizer,
            llm,
            max_sequence_length=args.max_sequence_length,
            llm_config=llm_branch,
            cache_size=0,
            batch_size=args.encode_batch_size,
        )
        return encode_captions(encoder, pool.captions, with_llm=with_llm)

    branch_digest = hashlib.sha256(json.dumps(llm_branch.to_dict(), sort_keys=True).encode()).hexdigest()[:10]
    llm_tag = f"llm{branch_digest}" if with_llm else "llm0"
    text_path = cache / f"text_{tag}_n{args.max_sequence_length}_{llm_tag}.pt" if cache else None
    text = _cached(text_path, features).to(device)
    empty = len(pool)  # index of the empty caption in `text`

    if (run / "transformer" / "config.json").exists():
        transformer = CogVideoXTransformer3DModel.from_pretrained(run / "transformer", torch_dtype=torch.float32)
    elif args.init_transformer:
        transformer = CogVideoXTransformer3DModel.from_pretrained(args.init_transformer, torch_dtype=torch.float32)
    else:
        transformer = CogVideoXTransformer3DModel(
            **NANO_FAMILIES[world].transformer_config(text.encoder_embeds.shape[-1])
        )
    check_world_models(world, None, transformer.config)
    if (run / "token_fuser" / "config.json").exists():
        fuser = load_token_fuser(run / "token_fuser")
    else:
        torch.manual_seed(args.seed)
        llm_dim = text.llm_embeds.shape[-1] if with_llm else 576
        fuser = TokenFuser(
            fusion_type=args.fusion_type,
            encoder_dim=text.encoder_embeds.shape[-1],
            llm_dim=llm_dim,
            num_llm_layers=len(llm_branch.hidden_layers),
        )
    transformer.train()
    fuser.train()
    scheduler = nano_scheduler()
    params = [{"params": list(transformer.parameters()), "lr": args.learning_rate}]
    if any(True for _ in fuser.parameters()):
        params.append({"params": list(fuser.parameters()), "lr": args.fuser_learning_rate or args.learning_rate})
    trainable = [p for group in params for p in group["params"]]
    optimizer = torch.optim.AdamW(params, weight_decay=0.0)
    warmup = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / max(1, args.lr_warmup_steps)))
    transformer, fuser, optimizer = accelerator.prepare(transformer, fuser, optimizer)
    state = TrainingState(accelerator, run, warmup)
    step = state.resume()
    log = LossLog(run) if accelerator.is_main_process else None
    rotary = rotary_embeddings(
        accelerator.unwrap_model(transformer), vae_scale_spatial, args.height, args.width, latents.shape[1], device
    )
    gen = torch.Generator(device).manual_seed(args.seed * 1000 + accelerator.process_index + step)
    empty_text = text.take(torch.tensor([empty], device=device))  # the empty caption's features, each (1, ...)

    time_limit = TimeLimit(args.time_limit_minutes)
    while step < args.max_train_steps:
        B = args.train_batch_size
        index = torch.randint(0, len(pool), (B,), device=device, generator=gen)
        t = caption_dropout(
            text.take(index),
            empty_text,
            args.caption_dropout,
            args.encoder_dropout if with_llm else 0.0,
            gen,
            keep_encoder_mask=True,  # the nano stages' rule, which the shipped Mimir-nano trained under
        )
        encoder_embeds = t["encoder_embeds"].float()  # (B, n, D)
        x0 = latents[index].float()  # (B, F_lat, C, h, w)
        noise = torch.randn(x0.shape, device=device, generator=gen)
        timesteps = torch.randint(0, scheduler.config.num_train_timesteps, (B,), device=device, generator=gen)
        noisy = scheduler.add_noise(x0, noise, timesteps)  # (B, F_lat, C, h, w)
        target = scheduler.get_velocity(x0, noise, timesteps)  # v-prediction target
        with accelerator.autocast():
            cond, _ = fuser(
                encoder_embeds,
                t["encoder_mask"],
                None if t["llm_embeds"] is None else t["llm_embeds"].float(),
                t["llm_mask"],
                None if t["instruction_embeds"] is None else t["instruction_embeds"].float(),
            )  # (B, n + k, D)
            pred = transformer(
                hidden_states=noisy, encoder_hidden_states=cond, timestep=timesteps, image_rotary_emb=rotary
            ).sample  # (B, F_lat, C, h, w)
        loss = F.mse_loss(pred.float(), target)
        accelerator.backward(loss)
        accelerator.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        warmup.step()
        optimizer.zero_grad(set_to_none=True)
        step += 1
        out_of_time = time_limit.passed()
        if log is not None:
            log.add(loss)
        if log is not None and step_due(step, args.log_every, args.max_train_steps, out_of_time):
            log.write(step, loss.item(), warmup.get_last_lr()[0])
            print(f"dit[{args.fusion_type}] step {step} loss {loss.item():.4f}", flush=True)
        if step_due(step, args.checkpoint_every, args.max_train_steps, out_of_time):
            state.save(step, {"transformer": transformer, "token_fuser": fuser})
        if out_of_time:
            break
    accelerator.wait_for_everyone()
    return run
