#!/usr/bin/env bash
# Fuzzes the checkpoint reader with libFuzzer (ASan + UBSan) for FUZZ_SECONDS (default 60).
# Needs clang++; exits 0 with a note when it is absent.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v clang++ >/dev/null; then
  echo "fuzz: clang++ not found, skipping the libFuzzer run (apt-get install clang)"
  exit 0
fi
CXX=clang++ CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTAPEGRAD_BUILD_FUZZERS=ON \
  -DTAPEGRAD_BUILD_TESTS=OFF -DTAPEGRAD_BUILD_EXAMPLES=OFF -DTAPEGRAD_BUILD_BENCH=OFF -DTAPEGRAD_WITH_MPI=OFF
cmake --build build-fuzz -j2 --target checkpoint_fuzzer make_checkpoint_seeds
corpus=build-fuzz/checkpoint_corpus
build-fuzz/bin/make_checkpoint_seeds "$corpus"
# -use_value_profile helps it past the CRC and length checks. Inputs up to 1 MiB, so seeds with
# large headers (many entries, long keys) fit; -timeout turns a hang into a finding, and
# -rss_limit_mb a runaway allocation.
ASAN_OPTIONS=detect_leaks=1 build-fuzz/bin/checkpoint_fuzzer "$corpus" -max_total_time="${FUZZ_SECONDS:-60}" \
  -use_value_profile=1 -max_len=1048576 -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
