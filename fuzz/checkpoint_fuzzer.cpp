// libFuzzer target for the checkpoint reader. Any bytes must either parse, or be rejected with
// tg::CheckpointError (FileIoError included); anything else escaping (another exception type, a
// crash, an out-of-bounds read under ASan, a hang past -timeout, memory past -rss_limit_mb) is a
// finding. A rejected load must also leave the model, the optimizer (exact step counts
// included) and the schedule exactly as they were, and an accepted one must bring finite values
// only.
//
//   CXX=clang++ cmake -S . -B build-fuzz -DTAPEGRAD_BUILD_FUZZERS=ON && cmake --build build-fuzz --target checkpoint_fuzzer
//   build-fuzz/bin/make_checkpoint_seeds corpus/ && build-fuzz/bin/checkpoint_fuzzer corpus/ -max_total_time=60
#include <unistd.h>

#include <cmath>
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

// Everything a load may change, as bytes: parameters, optimizer state and exact step counts,
// extras, schedule position and base lrs, lrs and weight decay.
std::vector<unsigned char> snapshot(const fuzz::FuzzModel& m) {
  std::vector<unsigned char> v;
  auto add_bytes = [&](const void* p, std::size_t n) {
    v.insert(v.end(), static_cast<const unsigned char*>(p), static_cast<const unsigned char*>(p) + n);
  };
  auto add = [&](const tg::Tensor& t) { add_bytes(t.data<float>(), t.numel() * sizeof(float)); };
  for (const auto& [name, t] : m.model.named_parameters()) add(t);
  const auto state = m.optimizer.exact_state();
  for (const auto& [name, t] : state.buffers) add(t);
  for (const auto& [name, count] : state.steps) add_bytes(&count, sizeof count);
  for (const auto& [name, t] : m.extra) add(t);
  const long last = m.schedule.last_step();
  add_bytes(&last, sizeof last);
  for (double b : m.schedule.base_lrs()) add_bytes(&b, sizeof b);
  const double lr = m.optimizer.lr(), wd = m.optimizer.weight_decay();
  add_bytes(&lr, sizeof lr);
  add_bytes(&wd, sizeof wd);
  return v;
}

// A load that succeeded brought finite values only (a NaN must be refused, never loaded).
bool all_finite(const fuzz::FuzzModel& m) {
  auto finite = [](const tg::Tensor& t) {
    for (std::size_t i = 0; i < t.numel(); ++i)
      if (!std::isfinite(t.data<float>()[i])) return false;
    return true;
  };
  for (const auto& [name, t] : m.model.named_parameters())
    if (!finite(t)) return false;
  for (const auto& [name, t] : m.optimizer.exact_state().buffers)
    if (!finite(t)) return false;
  for (const auto& [name, t] : m.extra)
    if (!finite(t)) return false;
  return std::isfinite(m.optimizer.lr()) && std::isfinite(m.optimizer.weight_decay());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // 1. The safetensors layer, from memory.
  try {
    tg::parse_safetensors(data, size, "fuzz input");
  } catch (const tg::CheckpointError&) {
  } catch (const tg::AllocationError&) {  // the machine's limit, named; never a crash
  }
  // 2. The checkpoint layer, from a file, into a fixed model: all or nothing.
  static fuzz::FuzzModel model;
  static const std::string path = scratch_path();
  write_file(path, data, size);
  const std::vector<unsigned char> before = snapshot(model);
  try {
    model.load(path);
    if (!all_finite(model)) {
      std::fprintf(stderr, "an accepted checkpoint loaded a non-finite value\n");
      std::abort();
    }
  } catch (const std::exception& e) {  // CheckpointError, or AllocationError (a std::bad_alloc)
    if (!dynamic_cast<const tg::CheckpointError*>(&e) && !dynamic_cast<const tg::AllocationError*>(&e)) throw;
    if (snapshot(model) != before) {
      std::fprintf(stderr, "a rejected checkpoint changed the model\n");
      std::abort();
    }
  }
  return 0;
}
