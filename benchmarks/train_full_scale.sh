#!/usr/bin/env bash
# The GPU verification of the full-scale recipe (issue 13): CogVideoX-5B + T5-XXL + Phi-3.5-mini at their true
# shapes with random weights (benchmarks/train_full_scale.py), 16 generated 49-frame 480x720 clips, a few optimiser
# steps. One stage per device call; each prints one JSON line (peak GPU memory per process, samples/s, losses) and
# copies its benchmark.json, losses.csv and args.json to $OUT/<stage>/.
#
#   bash benchmarks/train_full_scale.sh STAGE
#
# All stages can run on one nvidia-h200-x2 machine (the 1-GPU stages use GPU 0 through configs/accelerate/1gpu.yaml):
# the wheels are then staged once, and the clips and the feature cache under /tmp are shared while it stays warm.
# Measured on 2026-11-30 (benchmarks/RESULTS.md, "Full-scale training"): savers_1gpu, savers_2gpu, lora_1gpu and
# resume, with the arguments below (run as single commands, the 1-GPU ones pinned by CUDA_VISIBLE_DEVICES). full_1gpu
# and fsdp_2gpu have not run yet.
# --dataloader-num-workers 0: forked loader workers hung there before the fix (mimir.train.finetune.clip_loader now
# spawns them, untested on a GPU), and the measured figures decode in the training process.
#
#   savers_1gpu   full fine-tune with the memory savers: bf16 weights, 8-bit AdamW, gradient checkpointing, the
#                 frozen T5 + Phi-3.5 + VAE resident (no cache): the "fits one 80 GB GPU" target
#   full_1gpu     full fine-tune, fp32 master weights + AdamW (bf16 autocast), gradient checkpointing, feature cache
#   lora_1gpu     DiT LoRA rank 64 on a bf16 DiT, gradient checkpointing, feature cache: the "fits 24 GB" target
#   savers_2gpu   savers_1gpu on 2 GPUs with DDP (configs/accelerate/ddp_2gpu.yaml): scaling = its samples/s over
#                 savers_1gpu's
#   fsdp_2gpu     full_1gpu on 2 GPUs with FSDP (configs/accelerate/fsdp_2gpu.yaml)
#   resume        LoRA: 4 steps, stop; resume to 8 (a new process); and 8 steps straight; both loss lists printed
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
OUT=${OUT:-$W/out}

common=(--videos $W/videos --num-videos 16 --mixed-precision bf16 --gradient-checkpointing --dataloader-num-workers 0
        --train-batch-size 1 --learning-rate 1e-5 --lr-warmup-steps 0)
savers=(--transformer-dtype bf16 --optimizer adamw8bit)
lora=(--lora-rank 64 --transformer-dtype bf16 --learning-rate 1e-4 --cache-dir $W/cache)
one=(accelerate launch --config_file configs/accelerate/1gpu.yaml benchmarks/train_full_scale.py)
ddp=(accelerate launch --config_file configs/accelerate/ddp_2gpu.yaml benchmarks/train_full_scale.py)
fsdp=(accelerate launch --config_file configs/accelerate/fsdp_2gpu.yaml benchmarks/train_full_scale.py)

run() {  # run NAME COMMAND...: fresh run folder, then its reports to $OUT/NAME
  local name=$1; shift
  rm -rf $W/runs/$name
  "$@" --output-dir $W/runs/$name
  collect $name
}
collect() {
  mkdir -p $OUT/$1
  cp $W/runs/$1/{benchmark.json,losses.csv,args.json,environment.json,peak_memory.json} $OUT/$1/ 2>/dev/null || true
}

stage=${1:?usage: train_full_scale.sh STAGE (see the header)}
case $stage in
  install)  # only gathers pieces (above) until all are here; then shows what is importable
    [ -d /tmp/site/peft ] && python3 -c "import diffusers, peft, av, bitsandbytes as b; print('diffusers', diffusers.__version__, 'peft', peft.__version__, 'av', av.__version__, 'bitsandbytes', b.__version__)" || true ;;
  savers_1gpu) run savers_1gpu "${one[@]}" "${common[@]}" "${savers[@]}" --max-train-steps 6 --checkpoint-every 0 ;;
  full_1gpu) run full_1gpu "${one[@]}" "${common[@]}" --cache-dir $W/cache --max-train-steps 6 --checkpoint-every 0 ;;
  lora_1gpu) run lora_1gpu "${one[@]}" "${common[@]}" "${lora[@]}" --max-train-steps 6 --checkpoint-every 0 ;;
  savers_2gpu) run savers_2gpu "${ddp[@]}" "${common[@]}" "${savers[@]}" --max-train-steps 6 --checkpoint-every 0 ;;
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
