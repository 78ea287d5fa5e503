#pragma once
// The fixed little model the checkpoint fuzzer loads into, and the seed checkpoint it starts from:
// a Linear(3, 2) trained one Adam step under a StepLR schedule, with one extra tensor and metadata,
// so mutations of the seed reach every part of the checkpoint reader.
#include <map>
#include <string>

#include <tapegrad/tapegrad.hpp>

namespace fuzz {

struct FuzzModel {
  tg::Linear model{3, 2};
  tg::Adam optimizer{model.named_parameters(), tg::AdamOptions(1e-2)};
  tg::StepLR schedule{optimizer, 10, 0.5};
  tg::NamedTensors extra{{"state.h", tg::Tensor::zeros({1, 2})}};

  FuzzModel() {
    tg::manual_seed(7);
    auto x = tg::Tensor::constant(tg::uniform<float>({4, 3}, -1.f, 1.f));
    tg::sum(model(x)).backward();
    optimizer.step();
    schedule.step();
  }
  void save(const std::string& path) const {
    tg::save_checkpoint(path, model, tg::SaveCheckpointOptions().optimizer(optimizer).scheduler(schedule).extra(extra)
                                         .metadata({{"run.note", "fuzz seed"}}));
  }
  void load(const std::string& path) {
    tg::load_checkpoint(path, model, tg::LoadCheckpointOptions().optimizer(optimizer).scheduler(schedule).extra(extra));
  }
};

}  // namespace fuzz
