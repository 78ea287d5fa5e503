#include "presets.hpp"

#include <algorithm>
#include <functional>
#include <stdexcept>

#include "flags.hpp"
#include "train_setup.hpp"

namespace charlm {

// Note [the ten-minute preset]: found by the recipe search in the README ("Ten minutes of
// training"): short proxy runs of ~150 s, then the finalists at full length. A fixed step
// count (calibrated to ~600 s of training at 2 threads on the quiet 2-core machine) with the
// cosine schedule over exactly those steps, so the run is deterministic; --max-seconds is left
// to the user as a safety stop only.
const std::vector<Preset>& presets() {
  static const std::vector<Preset> all = {
      {"tinyshakespeare-10min",
       "the best recipe found for ~600 s of training at 2 threads on tinyshakespeare (the built-in corpus)",
       {{"--cell", "gru"},
        {"--layers", "1"},
        {"--hidden", "384"},
        {"--embed", "64"},
        {"--dropout", "0"},
        {"--batch", "32"},
        {"--block", "64"},
        {"--optim", "adamw"},
        {"--lr", "0.003"},
        {"--lr-schedule", "cosine"},
        {"--warmup", "100"},
        {"--clip", "1"},
        {"--steps", "3200"},
        {"--threads", "2"},
        {"--val-every", "320"}}},
  };
  return all;
}

namespace {

// Reads a flag's text into its option; an InputError naming `name` if it is not a valid value.
using Setter = std::function<void(const std::string& text, const std::string& name)>;

// The flags a preset may set: those that shape the trajectory, and the run's length and speed.
std::vector<std::pair<const char*, Setter>> settable(TrainOptions& o) {
  std::vector<std::pair<const char*, Setter>> out;
  for (TrajectoryFlag& f : trajectory_flags(o)) out.emplace_back(f.flag, f.parse);
  out.emplace_back("--steps", [&o](const std::string& s, const std::string& name) {
    o.steps = std::size_t(parse_whole_in(s, limits::kSteps, name));
  });
  out.emplace_back("--val-every", [&o](const std::string& s, const std::string& name) {
    o.val_every = std::size_t(parse_whole_in(s, limits::kEvery, name));
  });
  out.emplace_back("--threads", [&o](const std::string& s, const std::string& name) {
    o.threads = int(parse_whole_in(s, limits::kThreads, name));
  });
  return out;
}

}  // namespace

void apply_preset(TrainOptions& o) {
  const Preset* preset = nullptr;
  std::string names;
  for (const Preset& p : presets()) {
    if (o.preset == p.name) preset = &p;
    names += (names.empty() ? "" : ", ") + std::string(p.name);
  }
  if (!preset) throw InputError("--preset must be one of " + names + ", got '" + tg::quote_input(o.preset, 40) + "'");
  const auto setters = settable(o);
  for (const auto& [flag, value] : preset->flags) {
    auto setter = std::find_if(setters.begin(), setters.end(), [&](const auto& s) { return std::string(s.first) == flag; });
    if (setter == setters.end()) throw std::logic_error("preset " + o.preset + " sets " + flag + ", which no preset may set");
    if (!o.given.count(flag)) setter->second(value, "preset " + o.preset + "'s " + flag);  // the command line wins
  }
}

}  // namespace charlm
