#!/usr/bin/env bash
# From a fresh Debian bookworm machine: install what is missing, build, then train the
# character-level language model (1-layer LSTM, hidden 256) on the built-in corpus for about
# two minutes, print samples and the validation bits/char, and sample from the checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j2 --target char_lm  # only what the demo runs, not the tests and benchmarks
mkdir -p build/demo
rm -f build/demo/char_lm.csv  # a fresh loss curve (train appends to an existing log)
build/bin/char_lm train --cell lstm --layers 1 --hidden 256 --embed 64 --batch 32 --block 64 \
  --optim adam --lr 2e-3 --clip 5 --steps 1500 --max-seconds 150 --val-every 500 --print-every 100 \
  --checkpoint build/demo/char_lm.safetensors --overwrite --log build/demo/char_lm.csv
echo
echo "== char_lm sample --checkpoint build/demo/char_lm.safetensors --length 400 --temperature 0.8"
build/bin/char_lm sample --checkpoint build/demo/char_lm.safetensors --length 400 --temperature 0.8
