#!/usr/bin/env bash
# Installs the Debian (bookworm) packages tapegrad needs, skipping those already present.
# Sourced by test.sh and demo.sh; runs apt-get as root, or through sudo.
set -euo pipefail

TAPEGRAD_PACKAGES=(
  cmake make g++            # toolchain
  libxtensor-dev xtl-dev    # tensors
  libxsimd-dev              # SIMD for xtensor (only "recommended" by libxtensor-dev)
  libxtensor-blas-dev       # xtensor's BLAS bindings
  libopenblas-dev libopenblas-pthread-dev  # the BLAS, its pthread build pinned (cmake/TapegradBlas.cmake)
  libdnnl-dev               # oneDNN's sgemm for the small float products (cmake/TapegradDnnl.cmake)
  nlohmann-json3-dev        # safetensors checkpoint headers
  zlib1g-dev                # CRC32 of checkpoint data
  libcli11-dev              # char_lm's and the benchmarks' command lines
  libbenchmark-dev          # tapegrad_opbench (Google Benchmark)
  doctest-dev               # tests
  libopenblas0-serial       # tests: another OpenBLAS build, which the pin must refuse (test_hostile_cli)
  libopenmpi-dev openmpi-bin  # tapegrad::dist (data-parallel training, optional) and its `mpi` tests
)

missing=()
for pkg in "${TAPEGRAD_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]})); then
  echo "tapegrad: installing ${missing[*]}" >&2
  sudo_cmd=()
  if [[ $(id -u) -ne 0 ]]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
