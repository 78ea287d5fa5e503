#pragma once
// Named training recipes: `char_lm train --preset NAME` fills in the flags the command line
// left out (explicit flags win), so a recipe is one word and still every value can be changed.
// The resolved values are what the checkpoint stores, as for any run.
#include <string>
#include <utility>
#include <vector>

#include "options.hpp"

namespace charlm {

struct Preset {
  const char* name;
  const char* summary;  // one line for --help and errors
  std::vector<std::pair<const char*, const char*>> flags;  // flag, value as on the command line
};

const std::vector<Preset>& presets();

// Sets every flag of the preset `o.preset` that is not in `o.given`, through the flag's own
// strict reading; an unknown name is an InputError listing the presets.
void apply_preset(TrainOptions& o);

}  // namespace charlm
