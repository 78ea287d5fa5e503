#pragma once
// Strict numbers, the same for a flag and for the checkpoint metadata that mirrors it: decimal
// only ("010" is ten, "0x10", "-1" for a count, "nan" and "inf" are refused) and within the
// flag's range, never clamped or wrapped. A bad value is an InputError naming the flag or key.
#include <cstdint>
#include <limits>
#include <string>

#include <CLI/CLI.hpp>

namespace charlm {

// A whole number in [min, max].
struct WholeRange {
  std::uint64_t min = 0, max = std::numeric_limits<std::uint64_t>::max();
};
// A finite real number in [min, max], or (min, max] when min_open.
struct RealRange {
  double min = 0, max = std::numeric_limits<double>::max();
  bool min_open = false;
};

// `name` is the flag ("--hidden") or the metadata key ("model.hidden") shown in the error.
std::uint64_t parse_whole_in(const std::string& text, WholeRange range, const std::string& name);
double parse_real_in(const std::string& text, RealRange range, const std::string& name);

// CLI11 validators that check the text with the rules above and hand CLI11 the canonical text.
CLI::Validator whole_flag(WholeRange range);
CLI::Validator real_flag(RealRange range);

// The limits of the size flags (and of the metadata keys that mirror them).
namespace limits {
constexpr WholeRange kLayers{1, 64};
constexpr WholeRange kWidth{1, 16384};  // --hidden, --embed
constexpr WholeRange kBatch{1, 65536};
constexpr WholeRange kBlock{1, 1u << 20};
constexpr WholeRange kRecompute{0, 1u << 20};  // --recompute-every: 0 is off
constexpr WholeRange kSteps{1, std::uint64_t(1) << 62};
constexpr WholeRange kCount{0, std::uint64_t(1) << 62};     // --warmup, --save-every, --max-seconds
constexpr WholeRange kEvery{1, std::uint64_t(1) << 62};     // --val-every, --print-every
constexpr WholeRange kThreads{1, 1024};                     // then capped at the cores
constexpr WholeRange kSeed{};                               // any 64-bit seed
constexpr WholeRange kLength{1, 1000000};                    // sample --length (about 20 s at most)
constexpr WholeRange kTopK{0, 1u << 21};                    // sample --top-k (vocabulary <= 2^21)
constexpr RealRange kLr{0, std::numeric_limits<double>::max(), true};
constexpr RealRange kClip{0, std::numeric_limits<double>::max(), false};
constexpr RealRange kDropout{0, 0.999999, false};
constexpr RealRange kValFraction{0, 0.999999, true};
constexpr RealRange kTemperature{0, 1e6, false};
constexpr RealRange kTopP{0, 1, true};                      // sample --top-p, in (0, 1]
constexpr WholeRange kSamples{1, 1024};                     // sample --num-samples
constexpr RealRange kDynamicLr{0, std::numeric_limits<double>::max(), false};  // 0: the static loss
constexpr RealRange kDynamicDecay{0, 1, false};
constexpr WholeRange kDynamicStats{1, std::uint64_t(1) << 62};  // then at most the training split
}  // namespace limits

}  // namespace charlm
