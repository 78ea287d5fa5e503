#!/usr/bin/env bash
# Configures and builds tapegrad (Release) into build/ with 2 jobs. Extra arguments go to the
# configure step, e.g. scripts/build.sh -DTAPEGRAD_NATIVE=OFF for a portable build.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j2
