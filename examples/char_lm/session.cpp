#include "session.hpp"

#include "options.hpp"
#include "paths.hpp"

namespace charlm {

const std::string& required(const Metadata& m, const std::string& key, const std::string& path) {
  const auto it = m.find(key);
  if (it == m.end()) throw InputError(path + ": not a char_lm checkpoint (no '" + key + "' in its metadata)");
  return it->second;
}

Vocabulary stored_vocabulary(const Metadata& m, const std::string& path) {
  try {
    return Vocabulary::deserialize(required(m, "vocab", path));
  } catch (const std::invalid_argument& e) {
    throw InputError("checkpoint " + shown(path) + ": metadata 'vocab': " + e.what());
  }
}

LoadedModel load_model(const std::string& path) {
  check_readable_file("--checkpoint", path);
  LoadedModel r;
  r.meta = tg::read_checkpoint_metadata(path);
  try {
    r.vocab = stored_vocabulary(r.meta, path);
    const ModelConfig config = ModelConfig::from_metadata(r.meta);
    check_memory(config, 1, 1);
    r.model = std::make_unique<CharLM>(config);
  } catch (const std::invalid_argument& e) {
    throw InputError(path + ": " + e.what());
  }
  if (r.model->config().vocab != r.vocab.size())
    throw InputError(path + ": the model's vocabulary size differs from the stored vocabulary");
  tg::load_checkpoint(path, *r.model);
  r.model->eval();  // inference: no dropout
  return r;
}

}  // namespace charlm
