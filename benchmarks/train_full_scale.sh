#!/usr/bin/env bash
# The GPU verification of the full-scale recipe (issue 13): CogVideoX-5B + T5-XXL + Phi-3.5-mini at their true
# shapes with random weights (benchmarks/train_full_scale.py), 16 generated 49-frame 480x720 clips, a few optimiser
# steps. One stage per device call; each prints one JSON line (peak GPU memory per process, samples/s, losses) and
# adds its benchmark.json, losses.csv and args.json to $OUT/train_reports.tgz (with the earlier stages' reports).
#
#   bash benchmarks/train_full_scale.sh STAGE
#
# All stages can run on one nvidia-h200-x2 machine (the 1-GPU stages use GPU 0 through configs/accelerate/1gpu.yaml):
# the wheels are then staged once, and the clips and the feature cache under /tmp are shared while it stays warm.
# Measured on 2026-11-30 (benchmarks/RESULTS.md, "Full-scale training"): savers_1gpu, savers_2gpu, lora_1gpu and
# resume, with the arguments below (run as single commands, the 1-GPU ones pinned by CUDA_VISIBLE_DEVICES); in a second
# round (scripts/gpu_followups.sh) lora_fp8_1gpu, savers_1gpu_k4, savers_2gpu, savers_2gpu_k4 and fsdp_2gpu. full_1gpu
# has not run.
# --dataloader-num-workers 0: forked loader workers hung there before the fix (mimir.train.finetune.clip_loader now
# spawns them; 2 spawned workers ran on an H200 without a hang), and the measured figures decode in the training
# process.
#
#   savers_1gpu   full fine-tune with the memory savers: bf16 weights, 8-bit AdamW, gradient checkpointing, the
#                 frozen T5 + Phi-3.5 + VAE resident (no cache): the "fits one 80 GB GPU" target
#   full_1gpu     full fine-tune, fp32 master weights + AdamW (bf16 autocast), gradient checkpointing, feature cache
#   lora_1gpu     DiT LoRA rank 64 on a bf16 DiT, gradient checkpointing, feature cache: the "fits 24 GB" target
#   savers_2gpu   savers_1gpu on 2 GPUs with DDP (configs/accelerate/ddp_2gpu.yaml): scaling = its samples/s over
#                 savers_1gpu's
#   fsdp_2gpu     full_1gpu on 2 GPUs with FSDP (configs/accelerate/fsdp_2gpu.yaml)
#   resume        LoRA: 4 steps, stop; resume to 8 (a new process); and 8 steps straight; both loss lists printed
#   lora_fp8_1gpu lora_1gpu with the frozen DiT stored in float8 (--lora-base-storage float8_e4m3fn), and the cache
#                 pass's VAE encode tiled (--vae-tiling): for 24 GB, the cache pass and the training steps each
#   savers_1gpu_k4, savers_2gpu_k4   the savers runs with --gradient-accumulation-steps 4 (one all-reduce per 4
#                 batches): the 1 -> 2 GPU scaling at K = 4
#
# The GPU image lacks diffusers, peft, PyAV and bitsandbytes: run `TOKENIZERS_ONLY=1 bash scripts/device_stage_prepare.sh`
# here first; it cuts the wheels into pieces (.stage/cNN). The tree takes ~40 MiB of a call's 64 MiB, so carry one
# piece per call with the manifest (`bash benchmarks/train_full_scale.sh install`, carry [".stage/manifest",
# ".stage/c00"], then c01, ...; any stage may carry one): scripts/nano_device.sh gathers them under /tmp, which stays
# while the machine is warm, and installs the wheels once all are there.
# Nothing is downloaded; checkpoints are off (--checkpoint-every 0) except in `resume` (a LoRA run's trainer state:
# the bf16 DiT + adapter, about 11 GB per checkpoint), since a 5B full fine-tune's checkpoint takes ~90 GB of disk.
set -euo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
W=/tmp/mimir_full
mkdir -p $W/runs
bash scripts/nano_device.sh none  # gathers the carried pieces; installs the wheels into /tmp/site once all are there
export PYTHONPATH=/tmp/site:$PWD

common=(--videos $W/videos --num-videos 16 --mixed-precision bf16 --gradient-checkpointing --dataloader-num-workers 0
        --train-batch-size 1 --learning-rate 1e-5 --lr-warmup-steps 0)
savers=(--transformer-dtype bf16 --optimizer adamw8bit)
lora=(--lora-rank 64 --transformer-dtype bf16 --learning-rate 1e-4 --cache-dir $W/cache)
one=(accelerate launch --config_file configs/accelerate/1gpu.yaml benchmarks/train_full_scale.py)
ddp=(accelerate launch --config_file configs/accelerate/ddp_2gpu.yaml benchmarks/train_full_scale.py)
fsdp=(accelerate launch --config_file configs/accelerate/fsdp_2gpu.yaml benchmarks/train_full_scale.py)

run() {  # run NAME COMMAND...: fresh run folder, then its reports (collect)
  local name=$1; shift
  rm -rf $W/runs/$name
  "$@" --output-dir $W/runs/$name
  collect $name
}
collect() {  # every stage's reports so far (kept under /tmp while the machine is warm), as one file in $OUT: a call
  # returns at most 8 files
  mkdir -p $W/reports/$1
  cp $W/runs/$1/{benchmark.json,losses.csv,args.json,environment.json,peak_memory.json} $W/reports/$1/ 2>/dev/null || true
  if [ -n "${OUT:-}" ]; then tar czf $OUT/train_reports.tgz -C $W reports; fi
}

stage=${1:?usage: train_full_scale.sh STAGE (see the header)}
case $stage in
  install)  # only gathers pieces (above) until all are here; then shows what is importable
    [ -d /tmp/site/peft ] && python3 -c "import diffusers, peft, av, bitsandbytes as b; print('diffusers', diffusers.__version__, 'peft', peft.__version__, 'av', av.__version__, 'bitsandbytes', b.__version__)" || true ;;
  savers_1gpu) run savers_1gpu "${one[@]}" "${common[@]}" "${savers[@]}" --max-train-steps 6 --checkpoint-every 0 ;;
  full_1gpu) run full_1gpu "${one[@]}" "${common[@]}" --cache-dir $W/cache --max-train-steps 6 --checkpoint-every 0 ;;
  lora_1gpu) run lora_1gpu "${one[@]}" "${common[@]}" "${lora[@]}" --max-train-steps 6 --checkpoint-every 0 ;;
  savers_2gpu) run savers_2gpu "${ddp[@]}" "${common[@]}" "${savers[@]}" --max-train-steps 6 --checkpoint-every 0 ;;
  lora_fp8_1gpu) run lora_fp8_1gpu "${one[@]}" "${common[@]}" "${lora[@]}" --lora-base-storage float8_e4m3fn \
      --vae-tiling --max-train-steps 6 --checkpoint-every 0 ;;
  savers_1gpu_k4) run savers_1gpu_k4 "${one[@]}" "${common[@]}" "${savers[@]}" --gradient-accumulation-steps 4 \
      --max-train-steps 3 --checkpoint-every 0 ;;
  savers_2gpu_k4) run savers_2gpu_k4 "${ddp[@]}" "${common[@]}" "${savers[@]}" --gradient-accumulation-steps 4 \
      --max-train-steps 3 --checkpoint-every 0 ;;
  fsdp_2gpu) run fsdp_2gpu "${fsdp[@]}" "${common[@]}" --cache-dir $W/cache --max-train-steps 6 --checkpoint-every 0 ;;
  resume)
    run straight "${one[@]}" "${common[@]}" "${lora[@]}" --max-train-steps 8 --checkpoint-every 4
    run resumed "${one[@]}" "${common[@]}" "${lora[@]}" --max-train-steps 4 --checkpoint-every 4
    "${one[@]}" "${common[@]}" "${lora[@]}" --max-train-steps 8 --checkpoint-every 4 --output-dir $W/runs/resumed
    collect resumed
    echo "straight:"; cat $W/runs/straight/losses.csv
    echo "resumed (steps 5-8 from a new process after the step-4 checkpoint):"; cat $W/runs/resumed/losses.csv
    ;;
  *) echo "unknown stage $stage (see the header)"; exit 2 ;;
esac
