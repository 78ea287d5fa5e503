#!/usr/bin/env bash
# From a fresh Debian bookworm machine: install what is missing, build, and run the demo
# (until the char-level language model lands: a small MLP learning two spirals, ~5 s).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
build/bin/spirals
