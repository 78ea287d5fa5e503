#!/usr/bin/env bash
# From a fresh Debian bookworm machine: install what is missing, build, run every test.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
scripts/build.sh
ctest --test-dir build --output-on-failure -j2
