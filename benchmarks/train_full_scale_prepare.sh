#!/usr/bin/env bash
# Run here, in the repo root: the wheels that benchmarks/train_full_scale.sh needs on the GPU machine (its image lacks
# diffusers, peft, PyAV and bitsandbytes), for its Python 3.12, as one tar cut into 20 MB pieces:
# .stage13/cNN/pieceNN, and .stage13/manifest (sha256 of the tar, piece count). The tree alone is ~38 MiB of the
# 64 MiB a device call carries, so each call carries one piece and the manifest (`carry: [".stage13/manifest",
# ".stage13/c00"]`, then c01, ...; the last small piece can ride with the one before); the GPU script gathers them
# under /tmp while the machine stays warm and installs once all are there. .stage13/ is git-ignored.
set -euo pipefail
B=$(mktemp -d)
python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  --platform manylinux_2_28_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d $B/whl \
  "diffusers==0.42.1" "peft>=0.17,<0.20" "av>=14,<20" "bitsandbytes>=0.48"
tar cf $B/wheels.tar -C $B whl
rm -rf .stage13 && mkdir .stage13 && split -b 20M -d -a 2 $B/wheels.tar $B/piece
for f in $B/piece*; do n=${f#$B/piece}; mkdir -p .stage13/c$n && mv "$f" .stage13/c$n/piece$n; done
(sha256sum $B/wheels.tar | cut -d' ' -f1; ls .stage13 | grep -c '^c') > .stage13/manifest
rm -rf $B
ls -la .stage13/*/ && cat .stage13/manifest
