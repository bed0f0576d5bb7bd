"""The full-scale recipe: Mimir fine-tuned on your own videos, `python -m mimir train dit --data VIDEOS --preset P`.

The paper's setup at any preset: the encoder branch (T5) and the LLM (Phi-3.5) frozen, TokenFuser + DiT trained, with
CogVideoX's v-prediction on the zero-terminal-SNR schedule. The same code runs the nano preset on a CPU and
CogVideoX-5B on one GPU or, under `accelerate launch` (configs/accelerate/), several GPUs with DDP or FSDP.

    1. scan the videos once (filters; skipped files counted in data_report.json)
    2. optionally encode every clip into a sharded feature cache (VAE latents + both branches' text features)
    3. build TokenFuser + DiT (or DiT LoRA) as one module, the optimizer, LR schedule and EMA; resume if a checkpoint
       exists
    4. train: batches are a function of the step (StepBatches), noise and timesteps come from a per-step seed, so a
       resumed run continues the loss curve of an uninterrupted one
    5. checkpoint: the Mimir weights folder (what `--mimir-weights` loads) + accelerate's trainer state
"""

import gc
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import DistributedDataParallelKwargs, DistributedType, gather_object
from diffusers import AutoencoderKLCogVideoX, CogVideoXTransformer3DModel
from diffusers.optimization import get_scheduler
from diffusers.training_utils import EMAModel
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from mimir.text_encoding import LLMBranchConfig, PromptEncoder
from mimir.token_fuser import TokenFuser
from mimir.train.components import TrainingComponents

from .checkpoint import LossLog, TrainingState, write_args
from .denoiser import (
    TEXT_KEYS,
    MimirDenoiser,
    add_lora,
    build_optimizer,
    store_frozen_base_in,
    trainable_parameters,
    v_prediction_loss,
)
from .diffusion import llm_branch_of_run, rotary_embeddings
from .feature_cache import FeatureCache
from .filters import ClipFilter
from .loop import TimeLimit, caption_dropout, step_due
from .mimir_weights import save_mimir_weights
from .videos import ClipSpec, DataReport, StepBatches, VideoClips, VideoItem, collate_clips, list_videos, scan


def check_sizes(spec: ClipSpec, vae: AutoencoderKLCogVideoX, transformer: CogVideoXTransformer3DModel) -> None:
    """The clip must map onto whole latent frames and whole DiT patches; errors name the value and the rule."""
    temporal = vae.config.temporal_compression_ratio
    spatial = 2 ** (len(vae.config.block_out_channels) - 1) * transformer.config.patch_size
    if (spec.num_frames - 1) % temporal:
        raise ValueError(f"num_frames={spec.num_frames} must be {temporal}k + 1 (e.g. 49 or 9) for this VAE")
    for name in ("height", "width"):
        if getattr(spec, name) % spatial:
            raise ValueError(f"{name}={getattr(spec, name)} must be a multiple of {spatial} (VAE x patch size)")


def text_features(encoder: PromptEncoder, captions: list[str], with_llm: bool, dtype: torch.dtype) -> dict:
    """Both frozen branches over B captions: the `TEXT_KEYS` of `TokenFuser.forward` (LLM keys None without it)."""
    encoding = encoder.encode(captions, with_llm=with_llm, device="cpu", dtype=dtype)
    out = {"encoder_embeds": encoding.encoder.embeds, "encoder_mask": encoding.encoder.mask}  # (B, n, D), (B, n)
    if with_llm:
        out["llm_embeds"] = encoding.llm.combined.embeds  # (B, n, L, D_llm)
        out["llm_mask"] = encoding.llm.combined.mask  # (B, n)
        out["instruction_embeds"] = encoding.llm.instruction_embeds  # (B, 4, L, D_llm)
    return out


@torch.no_grad()
def video_latents(vae: AutoencoderKLCogVideoX, video: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """(B, 3, F, H, W) in [-1, 1] -> scaled latents (B, F_lat, C, h, w), the DiT's layout (a posterior sample, as
    CogVideoX's fine-tuning caches it)."""
    param = next(vae.parameters())
    z = vae.encode(video.to(param.device, param.dtype)).latent_dist.sample(generator)  # (B, C, F_lat, h, w)
    return (z * vae.config.scaling_factor).permute(0, 2, 1, 3, 4)  # (B, F_lat, C, h, w)


def clip_loader(dataset: Dataset, batches: StepBatches, collate, num_workers: int) -> DataLoader:
    """The training loader; its workers are spawned, never forked. On the GPU machine (H200, torch 2.11, PyAV 19)
    forked workers decoding 480x720 clips hung before the first batch, the main process waiting on their queue
    (issue 13's first run; benchmarks/RESULTS.md). The likely cause: a forked child inherits the state of the
    parent's CUDA context and FFmpeg threads. Spawned workers start clean, for a few seconds of start-up each."""
    context = "spawn" if num_workers > 0 else None
    return DataLoader(
        dataset, batch_sampler=batches, collate_fn=collate, num_workers=num_workers, multiprocessing_context=context
    )


class CachedClips(Dataset):
    """Items of a `FeatureCache`; an item whose file broke after the scan (valid 0) gives None."""

    def __init__(self, cache: FeatureCache):
        self.cache = cache

    def __len__(self) -> int:
        return self.cache.num_items

    def __getitem__(self, i: int) -> dict | None:
        item = self.cache.read(i)
        return None if not bool(item.pop("valid")) else {**item, "index": i}


def collate_cached(samples: list[dict | None]) -> dict:
    good = [s for s in samples if s is not None]
    keys = [k for k in good[0] if k != "index"] if good else []
    return {**{k: torch.stack([s[k] for s in good]) for k in keys}, "broken": len(samples) - len(good)}


def build_feature_cache(cache, clips, encoder, vae, with_llm, dtype, accelerator, batch_size: int, seed: int):
    """Encode the missing shards, each process its share; a finished shard is never encoded again."""
    shards = cache.missing()[accelerator.process_index :: accelerator.num_processes]
    for shard in tqdm(shards, desc="feature cache", disable=not accelerator.is_local_main_process):
        parts = []
        positions = list(cache.positions(shard))
        for start in range(0, len(positions), batch_size):
            samples = [clips[i] for i in positions[start : start + batch_size]]
            shape = (3, clips.spec.num_frames, clips.spec.height, clips.spec.width)
            # A file that broke since the scan is encoded as a black clip and marked invalid: shards keep their size.
            video = torch.stack([s["video"] if s else torch.full(shape, -1.0) for s in samples])  # (B, 3, F, H, W)
            generator = torch.Generator(accelerator.device).manual_seed(seed * 100_003 + positions[start])
            part = text_features(encoder, [s["caption"] if s else "" for s in samples], with_llm, dtype)
            part["latents"] = video_latents(vae, video.to(accelerator.device), generator).to(dtype).cpu()
            part["valid"] = torch.tensor([s is not None for s in samples], dtype=torch.uint8)
            parts.append(part)
        cache.write_shard(shard, {k: torch.cat([p[k] for p in parts]) for k in parts[0] if parts[0][k] is not None})
    if accelerator.is_main_process and not cache.has_empty():
        empty = text_features(encoder, [""], with_llm, dtype)
        cache.write_empty({k: v for k, v in empty.items() if v is not None})
    accelerator.wait_for_everyone()


def scan_videos(
    run: Path, data: str, items: list[VideoItem], spec: ClipSpec, clip_filter: ClipFilter, accelerator
) -> tuple[list[VideoItem], DataReport]:
    """Decide once which items train (`run/data_index.json`, reused on resume so the data order cannot change).
    A resumed run with other data, clip size or filters is refused: it would not continue the same run."""
    index_path = run / "data_index.json"
    settings = json.loads(json.dumps({"data": str(data), "clip": vars(spec), "filter": repr(clip_filter)}))
    if index_path.exists():
        saved = json.loads(index_path.read_text())
        differing = sorted(k for k in settings if saved.get("settings", {}).get(k) != settings[k])
        if differing:
            raise ValueError(
                f"{str(run)!r} was started with other {', '.join(differing)} "
                f"({ {k: saved.get('settings', {}).get(k) for k in differing} }): resume it with the same "
                "--data, sizes and filters, or start a new --output-dir"
            )
        report = DataReport(saved["report"]["total"], saved["report"]["kept"])
        report.skipped.update(saved["report"]["skipped"])
        return [VideoItem(**item) for item in saved["items"]], report
    rank, world = accelerator.process_index, accelerator.num_processes
    kept, report = scan(items, spec, clip_filter, range(rank, len(items), world))
    results = gather_object([(kept, report)])  # one (kept, report) per process
    positions, total = sorted(i for part, _ in results for i in part), DataReport()
    for _, part in results:
        total.merge(part)
    chosen = [items[i] for i in positions]
    if accelerator.is_main_process:
        index_path.write_text(
            json.dumps(
                {"settings": settings, "report": total.to_dict(), "items": [vars(item) for item in chosen]}, indent=1
            )
        )
    accelerator.wait_for_everyone()
    return chosen, total


def _peak_gib(device: torch.device) -> float | None:
    """Peak GPU memory allocated since the last reset, GiB (None off CUDA)."""
    return torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None


def new_accelerator(args) -> Accelerator:
    """The run's accelerator; refuses the combinations that cannot work under its distribution (FSDP)."""
    if args.lora_base_storage and not args.lora_rank:
        raise ValueError(
            f"--lora-base-storage={args.lora_base_storage} stores the frozen base of a LoRA: add --lora-rank "
            "(a full fine-tune trains those weights, which cannot live in float8)"
        )
    accelerator = Accelerator(
        mixed_precision=args.mixed_precision,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        log_with=None if args.report_to == "none" else args.report_to,
        project_dir=str(args.output_dir),
        # DDP's gradients as views into its all-reduce buckets, not a second copy: on two H200s the savers run held
        # 62.3 GiB per GPU under DDP against 51.8 GiB on one, about one bf16 copy of the DiT's gradients (10.4 GiB).
        kwargs_handlers=[DistributedDataParallelKwargs(gradient_as_bucket_view=True)],
    )
    if accelerator.is_main_process:
        write_args(Path(args.output_dir), args)
    if args.use_ema and accelerator.distributed_type == DistributedType.FSDP:
        raise ValueError("--use-ema keeps a full copy of the weights per process: use DDP (not FSDP) with EMA")
    if args.lora_rank and accelerator.distributed_type == DistributedType.FSDP:
        raise ValueError("--lora-rank trains a few million parameters: use DDP, FSDP brings nothing for LoRA")
    return accelerator


def clip_filter_of(args) -> ClipFilter:
    return ClipFilter(
        min_seconds=args.min_seconds,
        min_aspect=args.min_aspect,
        max_aspect=args.max_aspect,
        black_level=args.black_level,
        max_black_frame_ratio=args.max_black_frame_ratio,
        min_brightness=args.min_brightness,
        max_brightness=args.max_brightness,
        scorers=tuple(args.scorer),
    )


def prompt_encoder_of(components: TrainingComponents, args, llm_branch: LLMBranchConfig, with_llm: bool):
    """The frozen text branches as one `PromptEncoder` (no LLM without `with_llm`), uncached: each caption once."""
    return PromptEncoder(
        components.tokenizer,
        components.text_encoder,
        components.llm_tokenizer if with_llm else None,
        components.llm if with_llm else None,
        max_sequence_length=args.max_sequence_length,
        llm_config=llm_branch,
        cache_size=0,
        batch_size=args.encode_batch_size,
    )


def frozen_vae(vae: AutoencoderKLCogVideoX, tiling: bool) -> AutoencoderKLCogVideoX:
    vae = vae.eval().requires_grad_(False)
    vae.enable_slicing()  # one clip at a time through the encoder: a batch of 49x480x720 clips is many GB at once
    if tiling:
        vae.enable_tiling()
    return vae


def cache_key(items, spec, vae, args, components: TrainingComponents, llm_branch, with_llm: bool) -> dict:
    """What a feature cache's contents depend on: a cache built under another key is not reused."""
    return {
        "items": [vars(i) for i in items],
        "clip": vars(spec),
        "vae": {k: v for k, v in vae.config.items() if not k.startswith("_")},
        # tiled and whole-clip encodes give other latents: a cache built one way is not the other's (on two H200s
        # a --vae-tiling run read a cache built without tiling, and its losses were those of the untiled latents)
        "vae_tiling": bool(args.vae_tiling),
        "text_encoder": components.text_encoder.config.to_dict().get("_name_or_path", "")
        or type(components.text_encoder).__name__,
        "llm": (components.llm.config.to_dict().get("_name_or_path", "") or type(components.llm).__name__)
        if with_llm
        else None,
        "max_sequence_length": args.max_sequence_length,
        "llm_branch": llm_branch.to_dict() if with_llm else None,
        "dtype": str(components.dtype),
    }


def training_data(args, components, items, spec, encoder, vae, llm_branch, with_llm, accelerator):
    """(dataset, collate, the empty caption's features (each (1, ...)), the cache pass's peak GPU GiB or None).

    With `--cache-dir` every clip is encoded once into the feature cache and the frozen models leave the GPU;
    without it the dataset decodes clips and the VAE and text branches run in every step."""
    device, clips = accelerator.device, VideoClips(items, spec)
    if not args.cache_dir:
        vae.to(device)
        return clips, collate_clips, text_features(encoder, [""], with_llm, components.dtype), None
    key = cache_key(items, spec, vae, args, components, llm_branch, with_llm)
    cache = FeatureCache(args.cache_dir, key, len(items), args.cache_shard_size)
    vae.to(device)
    build_feature_cache(
        cache, clips, encoder, vae, with_llm, components.dtype, accelerator, args.encode_batch_size, args.seed
    )
    vae.to("cpu")
    components.text_encoder.to("cpu")
    if with_llm and not getattr(components.llm, "is_loaded_in_8bit", False):
        components.llm.to("cpu")
    # The cache pass and the training steps peak apart: a 24 GB GPU must hold each, and with the frozen models
    # off the GPU afterwards the training's own peak is the figure that says which GPU the training fits.
    cache_peak = _peak_gib(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    return CachedClips(cache), collate_cached, cache.read_empty(), cache_peak


def build_model(args, components: TrainingComponents, llm_branch: LLMBranchConfig, with_llm: bool) -> MimirDenoiser:
    """TokenFuser + DiT (or the DiT's LoRA) as one trainable module, the fuser from `--seed`."""
    transformer = components.transformer
    if args.lora_rank:
        add_lora(transformer, args.lora_rank, args.lora_alpha)
    else:
        transformer.requires_grad_(True)
    if args.gradient_checkpointing:
        transformer.enable_gradient_checkpointing()
    torch.manual_seed(args.seed)
    fuser = TokenFuser(
        fusion_type=args.fusion_type,
        encoder_dim=components.text_encoder.config.hidden_size,
        llm_dim=components.llm.config.hidden_size if with_llm else 576,
        num_llm_layers=len(llm_branch.hidden_layers),
    )
    return MimirDenoiser(fuser, transformer).train()


def save_weights(accelerator, model, ema, run: Path, llm_branch, base) -> None:
    """The Mimir weights folder of the run (the EMA weights with `--use-ema`); every process takes part (FSDP
    gathers the shards), the main one writes."""
    full_state = accelerator.get_state_dict(model)
    if accelerator.is_main_process:
        if ema is not None:
            ema.store(trainable_parameters(model))
            ema.copy_to(trainable_parameters(model))
            full_state = accelerator.get_state_dict(model)
        save_mimir_weights(run, accelerator.unwrap_model(model), llm_branch, full_state, base)
        if ema is not None:
            ema.restore(trainable_parameters(model))


@dataclass
class FrozenParts:
    """What a training step reads and never trains: the frozen VAE and text branches (used on decoded clips, without
    a feature cache), the empty caption's features (each (1, ...)) and the DiT's RoPE tables."""

    vae: AutoencoderKLCogVideoX
    encoder: PromptEncoder
    components: TrainingComponents
    empty: dict
    rotary: tuple[torch.Tensor, torch.Tensor] | None


def batch_loss(model, batch: dict, generator: torch.Generator, frozen: FrozenParts, args, with_llm: bool):
    """v-prediction loss of one (micro-)batch, on `generator`'s device: cached features, or the frozen models on
    decoded clips; caption dropout by the shared rule (mimir/train/loop.py)."""
    device = generator.device
    if "latents" in batch:
        latents = batch["latents"].to(device, torch.float32)  # (B, F_lat, C, h, w)
        text = {k: batch.get(k) for k in TEXT_KEYS}
    else:
        latents = video_latents(frozen.vae, batch["video"].to(device), generator).float()  # (B, F_lat, C, h, w)
        text = text_features(frozen.encoder, batch["caption"], with_llm, frozen.components.dtype)
    text = caption_dropout(
        text, frozen.empty, args.caption_dropout, args.encoder_dropout if with_llm else 0.0, generator
    )
    text = {k: v if v is None or k.endswith("mask") else v.float() for k, v in text.items()}
    return v_prediction_loss(model, frozen.components.scheduler, latents, text, frozen.rotary, generator)


def prepare_training(args, model: MimirDenoiser, accelerator: Accelerator):
    """(model, optimizer, LR schedule, EMA or None), prepared by the accelerator; the frozen base of a LoRA stored in
    `--lora-base-storage`."""
    optimizer = build_optimizer(
        model, args.optimizer, args.learning_rate, args.fuser_learning_rate or args.learning_rate, args.weight_decay
    )
    lr_schedule = get_scheduler(
        "constant_with_warmup",
        optimizer,
        num_warmup_steps=args.lr_warmup_steps,
        num_training_steps=args.max_train_steps,
    )
    model, optimizer = accelerator.prepare(model, optimizer)
    if args.lora_base_storage:
        # After prepare: DDP broadcasts every parameter once when it wraps the model, and gloo cannot send float8
        # ("Invalid scalar type"); the frozen base is never synchronised after that. Before resume, which loads the
        # float8 base a checkpoint holds.
        store_frozen_base_in(accelerator.unwrap_model(model).transformer, args.lora_base_storage)
    ema = EMAModel(trainable_parameters(model), decay=args.ema_decay) if args.use_ema else None
    if ema is not None:
        ema.to(accelerator.device)
    return model, optimizer, lr_schedule, ema


def write_run_records(run: Path, report: DataReport, broken: int, training_peaks: list, cache_peaks: list) -> None:
    """data_report.json with the clips that broke during training, and peak_memory.json (GiB per process)."""
    (run / "data_report.json").write_text(
        json.dumps({**report.to_dict(), "broken_during_training": broken}, indent=1) + "\n"
    )
    peaks = {
        "peak_allocated_gib_per_process": [
            None if t is None else max(t, c or 0.0) for t, c in zip(training_peaks, cache_peaks)
        ],
        "cache_pass_peak_allocated_gib_per_process": cache_peaks,  # None without --cache-dir (or on the CPU)
        "training_peak_allocated_gib_per_process": training_peaks,
    }
    (run / "peak_memory.json").write_text(json.dumps(peaks) + "\n")


def train_on_videos(args, components: TrainingComponents) -> Path:
    accelerator = new_accelerator(args)
    device, run = accelerator.device, Path(args.output_dir)
    with_llm = args.fusion_type != "t5_only"

    # 1. Data: scan once, count what is skipped.
    spec = ClipSpec(args.num_frames, args.height, args.width, args.fps)
    check_sizes(spec, components.vae, components.transformer)
    items, report = scan_videos(run, args.data, list_videos(args.data), spec, clip_filter_of(args), accelerator)
    accelerator.print(f"data: {report.summary()}")
    if accelerator.is_main_process:
        (run / "data_report.json").write_text(json.dumps(report.to_dict(), indent=1) + "\n")
    llm_branch: LLMBranchConfig = llm_branch_of_run(run, args)
    if accelerator.is_main_process:
        llm_branch.save(run)
    encoder = prompt_encoder_of(components, args, llm_branch, with_llm)
    vae = frozen_vae(components.vae, args.vae_tiling)

    # 2. Optional feature cache: afterwards the frozen models leave the GPU.
    dataset, collate, empty, cache_peak = training_data(
        args, components, items, spec, encoder, vae, llm_branch, with_llm, accelerator
    )

    # 3. Model, optimizer, schedule, EMA; resume.
    model = build_model(args, components, llm_branch, with_llm)
    model, optimizer, lr_schedule, ema = prepare_training(args, model, accelerator)
    state = TrainingState(accelerator, run, lr_schedule, *([ema] if ema is not None else []))
    step = state.resume()
    if accelerator.is_main_process and args.report_to != "none":
        accelerator.init_trackers(
            "mimir", config={k: v for k, v in vars(args).items() if isinstance(v, (int, float, str, bool))}
        )
    log = LossLog(run) if accelerator.is_main_process else None
    transformer = accelerator.unwrap_model(model).transformer
    vae_scale_spatial = 2 ** (len(vae.config.block_out_channels) - 1)
    latent_frames = (args.num_frames - 1) // vae.config.temporal_compression_ratio + 1
    rotary = (
        rotary_embeddings(transformer, vae_scale_spatial, args.height, args.width, latent_frames, device)
        if transformer.config.use_rotary_positional_embeddings
        else None
    )
    frozen = FrozenParts(vae, encoder, components, empty, rotary)
    # One batch per micro-step: a step of --gradient-accumulation-steps k takes k batches per process.
    batches = StepBatches(
        len(dataset),
        args.train_batch_size,
        accelerator.num_processes,
        accelerator.process_index,
        args.seed,
        step * args.gradient_accumulation_steps,
        args.max_train_steps * args.gradient_accumulation_steps,
    )
    loader = clip_loader(dataset, batches, collate, args.dataloader_num_workers)

    # 4. Train; 5. checkpoint: every --checkpoint-every steps, at the end and at the time limit (mimir/train/loop.py).
    progress = tqdm(
        total=args.max_train_steps, initial=step, desc="train", disable=not accelerator.is_local_main_process
    )
    time_limit = TimeLimit(args.time_limit_minutes)
    broken, last, losses = 0, None, []
    accumulation = args.gradient_accumulation_steps
    for micro, batch in enumerate(loader, start=step * accumulation):
        broken += batch.pop("broken")
        # An all-broken batch reuses the previous one: under DDP every process must take the step.
        batch = batch if (batch.get("latents") is not None or batch.get("video") is not None) else last
        if batch is None:
            raise RuntimeError(
                f"every clip of the first batch at step {step + 1} failed to decode since the scan: is --data still "
                "readable? (see the warnings above)"
            )
        last = batch
        # Noise, timesteps and dropout from a seed of (micro-batch, process): resuming repeats them exactly.
        generator = torch.Generator(device).manual_seed(
            (args.seed * 1_000_003 + micro) * accelerator.num_processes + accelerator.process_index
        )
        with accelerator.accumulate(model):  # DDP syncs, and the optimizer steps, on the last micro-batch only
            with accelerator.autocast():
                loss = batch_loss(model, batch, generator, frozen, args, with_llm)
            accelerator.backward(loss)
            if accelerator.sync_gradients:
                accelerator.clip_grad_norm_(trainable_parameters(model), args.max_grad_norm)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
        losses.append(loss.detach())
        if not accelerator.sync_gradients:
            continue
        lr_schedule.step()
        if ema is not None:
            ema.step(trainable_parameters(model))
        step += 1
        progress.update(1)
        out_of_time = time_limit.passed()
        mean_loss = accelerator.reduce(torch.stack(losses).mean(), reduction="mean")  # the global batch's loss
        losses = []
        if log is not None:
            log.add(mean_loss)
        if step_due(step, args.log_every, args.max_train_steps, out_of_time):
            lr = lr_schedule.get_last_lr()[0]
            if log is not None:
                log.write(step, mean_loss.item(), lr)
            accelerator.log({"loss": mean_loss.item(), "lr": lr}, step=step)
            progress.set_postfix(loss=f"{mean_loss.item():.4f}")
        # --checkpoint-every 0 never saves (a benchmark: a 5B full fine-tune's checkpoint takes ~90 GB of disk).
        if step_due(step, args.checkpoint_every, args.max_train_steps, out_of_time):
            state.save(step, weights=lambda: save_weights(accelerator, model, ema, run, llm_branch, components.base))
        if out_of_time:
            break
    progress.close()
    broken = sum(gather_object([broken]))
    # Peak GPU memory of each process (the figure that says which GPU a setting fits), before the group closes.
    training_peaks = gather_object([_peak_gib(device)])
    cache_peaks = gather_object([cache_peak])
    if accelerator.is_main_process:
        write_run_records(run, report, broken, training_peaks, cache_peaks)
    accelerator.print(f"data: {report.summary()}; broken during training: {broken}")
    # Let go of the DDP wrapper while every process still holds the group. The accelerator keeps the prepared model
    # until it is collected; collected after the group had closed, two CPU processes (gloo) hung now and then in
    # teardown, one of them after its last report (3 runs in 10, 2026-11-30).
    model = optimizer = loader = frozen = None
    accelerator.free_memory()
    gc.collect()
    accelerator.wait_for_everyone()
    accelerator.end_training()
    return run
