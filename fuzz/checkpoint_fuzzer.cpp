// libFuzzer target for the checkpoint reader. Any bytes must either parse, or be rejected with
// tg::CheckpointError; anything else escaping (another exception type, a crash, an out-of-bounds
// read under ASan) is a finding. A rejected load must also leave the model, the optimizer and
// the schedule exactly as they were.
//
//   CXX=clang++ cmake -S . -B build-fuzz -DTAPEGRAD_BUILD_FUZZERS=ON && cmake --build build-fuzz --target checkpoint_fuzzer
//   build-fuzz/bin/make_checkpoint_seeds corpus/ && build-fuzz/bin/checkpoint_fuzzer corpus/ -max_total_time=60
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "fuzz_model.hpp"

namespace {

std::string scratch_path() {
  return (std::filesystem::temp_directory_path() / ("tapegrad_fuzz_" + std::to_string(getpid()) + ".safetensors"))
      .string();
}

void write_file(const std::string& path, const std::uint8_t* data, std::size_t size) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) std::abort();
  if (size && std::fwrite(data, 1, size, f) != size) std::abort();
  std::fclose(f);
}

// Everything a load may change, flattened: parameters, optimizer state, schedule position, extras.
std::vector<float> snapshot(const fuzz::FuzzModel& m) {
  std::vector<float> v;
  auto add = [&](const tg::Tensor& t) { v.insert(v.end(), t.data(), t.data() + t.numel()); };
  for (const auto& [name, t] : m.model.named_parameters()) add(t);
  for (const auto& [name, t] : m.optimizer.state()) add(t);
  for (const auto& [name, t] : m.extra) add(t);
  v.push_back(float(m.schedule.last_step()));
  v.push_back(float(m.optimizer.lr()));
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // 1. The safetensors layer, from memory.
  try {
    tg::parse_safetensors(data, size, "fuzz input");
  } catch (const tg::CheckpointError&) {
  }
  // 2. The checkpoint layer, from a file, into a fixed model: all or nothing.
  static fuzz::FuzzModel model;
  static const std::string path = scratch_path();
  write_file(path, data, size);
  const std::vector<float> before = snapshot(model);
  try {
    model.load(path);
  } catch (const tg::CheckpointError&) {
    if (snapshot(model) != before) {
      std::fprintf(stderr, "a rejected checkpoint changed the model\n");
      std::abort();
    }
  }
  return 0;
}
