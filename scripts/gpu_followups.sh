#!/usr/bin/env bash
# The GPU runs that issues 10 and 13 still need, in four device calls on the nvidia-h200-x2 kind (each well inside a
# call's 10 minutes), after the stage is in place: here
#   APP=1 TOKENIZERS_ONLY=1 PIECE=23M bash scripts/device_stage_prepare.sh
# then one call per piece, `bash scripts/nano_device.sh none` carrying [".stage/manifest", ".stage/cNN"].
#
#   bash scripts/gpu_followups.sh tests   # pytest -m gpu: offload in every mode, the app's forced out-of-memory
#   bash scripts/gpu_followups.sh a       # GPU 1: full_scale.py model_offload + none, every pipeline warmed up;
#                                         # GPU 0 meanwhile: LoRA on a float8 base, then savers at K = 4 on one GPU
#   bash scripts/gpu_followups.sh b       # both GPUs: savers under DDP (gradients as bucket views), then at K = 4
#   bash scripts/gpu_followups.sh c       # both GPUs: the fp32 full fine-tune under FSDP
# Ran on 2026-11-30 (second session): tests, a, b, c; c stopped at FSDP's wrap (the fuser's 0-d llm_scale, now (1,)).
# Then:
#   bash scripts/gpu_followups.sh d       # both GPUs: fsdp_2gpu again
#   bash scripts/gpu_followups.sh e       # GPU 1: full_scale.py model_offload, 3 rounds (paired ratios); GPU 0
#                                         # meanwhile: lora_fp8_1gpu with a tiled cache pass (its two peaks apart)
# Ran too (2026-11-30): d, e. Next, fast='fp8' (float8 matmuls through torchao, staged since), on the one-GPU kind:
#   bash scripts/gpu_followups.sh fp8       # its GPU test; the 5B fast-fp8 rows in mode none (10 steps, compiled)
#   bash scripts/gpu_followups.sh fp8guard  # the nano quality guard of fp8 on the GPU (held-out wordings, 30 specs)
# Ran 2026-11-30 (third session, one H200, stage made with NO_TRAIN=1) as single commands, not these parts: the GPU
# test passed; the 5B rows never came (Mimir's first fp8 call was autotuning, now off); the guard ran at --limit 12.
# benchmarks/RESULTS.md "fast='fp8' on the GPU" has the commands. The parts stay as the recipe for the next round.
#
# What comes back in $OUT: the logs, the full_scale JSON and train_reports.tgz (every training stage's reports so
# far); RESULTS.md takes the figures from there.
set -uo pipefail
export PYTHONUNBUFFERED=1
R=${OUT:?run on the GPU machine, where the device tool sets OUT}
quiet() { grep --line-buffered -vE "it/s\]|s/it\]|should be kept in float32"; }
case ${1:?usage: gpu_followups.sh tests|a|b|c|d|e|fp8|fp8guard} in
  tests)
    timeout 500 bash scripts/nano_device.sh pytest -m gpu -q -rA tests/test_offload_gpu.py tests/test_app_gpu.py 2>&1 \
      | quiet | tail -60 > $R/gpu_tests.log
    tail -15 $R/gpu_tests.log ;;
  a)
    (CUDA_VISIBLE_DEVICES=1 timeout 560 bash scripts/nano_device.sh full_scale --root /tmp/mimir-5b \
      --modes none model_offload --steps 3 --json $R/full_scale_warm.json 2>&1 | quiet > $R/full_scale.log) &
    stages='bash benchmarks/train_full_scale.sh lora_fp8_1gpu && bash benchmarks/train_full_scale.sh savers_1gpu_k4'
    (timeout 560 bash -c "$stages" 2>&1 | quiet > $R/train_a.log) &
    wait
    tail -12 $R/full_scale.log; grep -h '^{' $R/train_a.log | cut -c1-400 ;;
  b)
    stages='bash benchmarks/train_full_scale.sh savers_2gpu && bash benchmarks/train_full_scale.sh savers_2gpu_k4'
    timeout 560 bash -c "$stages" 2>&1 | quiet > $R/train_b.log
    grep -h '^{' $R/train_b.log | cut -c1-400 ;;
  c|d)
    timeout 560 bash benchmarks/train_full_scale.sh fsdp_2gpu 2>&1 | quiet > $R/train_$1.log
    grep -h '^{' $R/train_$1.log | cut -c1-600; tail -5 $R/train_$1.log ;;
  e)
    (CUDA_VISIBLE_DEVICES=1 timeout 560 bash scripts/nano_device.sh full_scale --root /tmp/mimir-5b \
      --modes model_offload --steps 3 --repeats 3 --json $R/full_scale_repeats.json 2>&1 | quiet > $R/full_scale_e.log) &
    (timeout 560 bash benchmarks/train_full_scale.sh lora_fp8_1gpu 2>&1 | quiet > $R/train_e.log) &
    wait
    tail -6 $R/full_scale_e.log; grep -h '^{' $R/train_e.log | cut -c1-600 ;;
  fp8)
    timeout 120 bash scripts/nano_device.sh pytest -m gpu -q -rA tests/test_fast_gpu.py 2>&1 | quiet | tail -20 \
      > $R/fp8_test.log
    timeout 420 bash scripts/nano_device.sh full_scale --root /tmp/mimir-5b --modes none --steps 3 --fast \
      --fast-mode fp8 --fast-steps 10 --json $R/full_scale_fp8.json 2>&1 | quiet > $R/full_scale_fp8.log
    tail -3 $R/fp8_test.log; tail -8 $R/full_scale_fp8.log ;;
  fp8guard)
    timeout 560 bash scripts/nano_device.sh guard --device cuda --fast fp8 --split heldout \
      --dimensions color count motion spatial_relationship --limit 30 --json $R/fast_guard_fp8.json 2>&1 | quiet \
      | tail -8 > $R/fast_guard_fp8.log
    cat $R/fast_guard_fp8.log ;;
  *) echo "unknown part $1"; exit 2 ;;
esac
