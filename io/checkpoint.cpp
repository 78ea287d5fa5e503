#include <tapegrad/io/checkpoint.hpp>

#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace tg {
namespace {

constexpr const char* kVersionKey = "tapegrad.checkpoint_version";
constexpr const char* kVersion = "1";
constexpr const char* kOptimizerKey = "tapegrad.optimizer";
constexpr const char* kSchedulerKey = "tapegrad.scheduler";
const std::string kReserved = "tapegrad.";
const std::string kOptimPrefix = "optim.";
const std::string kExtraPrefix = "extra.";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

bool is_reserved_key(const std::string& key) {
  return starts_with(key, kReserved) || key == "crc32" || key == "header_crc32";
}

// The shortest text that reads back as exactly v (through parse_double).
std::string exact(double v) {
  char buf[32];
  return std::string(buf, std::to_chars(buf, buf + sizeof buf, v).ptr);
}

bool parse_double(const std::string& s, double& out) {
  if (s.empty() || std::isspace(static_cast<unsigned char>(s[0]))) return false;
  errno = 0;
  char* end = nullptr;
  out = std::strtod(s.c_str(), &end);
  return errno == 0 && end == s.c_str() + s.size() && std::isfinite(out);
}

bool parse_count(const std::string& s, long& out) {
  if (s.empty() || s.size() > 18) return false;
  out = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    out = out * 10 + (c - '0');
  }
  return true;
}

std::string group_key(std::size_t g, const char* what) {
  return std::string(kOptimizerKey) + ".group." + std::to_string(g) + "." + what;
}

std::string base_lr_key(std::size_t g) {
  return std::string(kSchedulerKey) + ".base_lr." + std::to_string(g);
}

struct Reader {
  std::string path;

  CheckpointError fail(const std::string& what) const {
    return CheckpointError("checkpoint '" + path + "': " + what);
  }
  const std::string& meta(const SafetensorsFile& f, const std::string& key,
                          const std::string& why) const {
    const auto it = f.metadata.find(key);
    if (it == f.metadata.end()) throw fail("the metadata has no '" + key + "' (" + why + ")");
    return it->second;
  }
  double meta_number(const SafetensorsFile& f, const std::string& key) const {
    double v;
    const std::string& s = meta(f, key, "needed to restore it");
    if (!parse_double(s, v) || v < 0.0) throw fail("the metadata '" + key + "' = '" + s +
                                                   "' is not a finite number >= 0");
    return v;
  }
  long meta_count(const SafetensorsFile& f, const std::string& key) const {
    long v;
    const std::string& s = meta(f, key, "needed to restore it");
    if (!parse_count(s, v)) throw fail("the metadata '" + key + "' = '" + s +
                                       "' is not a whole number >= 0");
    return v;
  }
};

// The structure and CRCs were checked by load_safetensors; here: ours, and our version.
void check_format(const Reader& r, const SafetensorsFile& f) {
  for (const char* key : {"crc32", "header_crc32"})
    if (!f.metadata.count(key))
      throw r.fail(std::string("the metadata has no '") + key +
                   "' entry: not a tapegrad checkpoint, so it cannot be checked for corruption");
  const std::string& version = r.meta(f, kVersionKey, "not a tapegrad checkpoint");
  if (version != kVersion)
    throw r.fail("checkpoint format version '" + version + "'; this tapegrad reads version " +
                 kVersion);
}

std::map<std::string, std::string> caller_metadata(const SafetensorsFile& f) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : f.metadata)
    if (!is_reserved_key(k)) out.emplace(k, v);
  return out;
}

template <class T>
void check_param_names(const NamedTensorsT<T>& params, const char* who) {
  for (const auto& [name, p] : params)
    if (starts_with(name, kOptimPrefix) || starts_with(name, kExtraPrefix))
      throw std::invalid_argument(std::string(who) + ": the parameter name '" + name +
                                  "' starts with 'optim.' or 'extra.', which checkpoints reserve "
                                  "for optimizer state and extra tensors; rename the child module");
}

}  // namespace

template <class T>
void save_checkpoint(const std::string& path, const ModuleT<T>& model,
                     const OptimizerT<typename detail::NonDeduced<T>::type>* optimizer,
                     const NamedTensorsT<typename detail::NonDeduced<T>::type>& extra,
                     const std::map<std::string, std::string>& metadata,
                     const LRScheduler* scheduler) {
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : metadata) {
    if (is_reserved_key(k))
      throw std::invalid_argument("save_checkpoint: the metadata key '" + k +
                                  "' is reserved (keys starting with 'tapegrad.', 'crc32', "
                                  "'header_crc32')");
    meta.emplace(k, v);
  }
  meta[kVersionKey] = kVersion;

  StoredTensors tensors;
  const NamedTensorsT<T> params = model.named_parameters();
  check_param_names(params, "save_checkpoint");
  for (const auto& [name, p] : params) tensors.emplace_back(name, StoredTensor(p));
  if (optimizer) {
    for (const auto& [name, t] : optimizer->state())
      tensors.emplace_back(kOptimPrefix + name, StoredTensor(t));
    meta[kOptimizerKey] = optimizer->name();
    meta[std::string(kOptimizerKey) + ".groups"] = std::to_string(optimizer->num_groups());
    for (std::size_t g = 0; g < optimizer->num_groups(); ++g) {
      meta[group_key(g, "lr")] = exact(optimizer->lr(g));
      meta[group_key(g, "weight_decay")] = exact(optimizer->weight_decay(g));
    }
  }
  for (const auto& [name, t] : extra) {
    if (name.empty() || !t.defined())
      throw std::invalid_argument("save_checkpoint: extra tensor '" + name +
                                  "' needs a non-empty name and a defined tensor");
    tensors.emplace_back(kExtraPrefix + name, StoredTensor(t));
  }
  if (scheduler) {
    meta[kSchedulerKey] = scheduler->name();
    meta[std::string(kSchedulerKey) + ".last_step"] = std::to_string(scheduler->last_step());
    for (std::size_t g = 0; g < scheduler->base_lrs().size(); ++g)
      meta[base_lr_key(g)] = exact(scheduler->base_lrs()[g]);
  }
  save_safetensors(path, tensors, meta);
}

template <class T>
std::map<std::string, std::string> load_checkpoint(
    const std::string& path, ModuleT<T>& model,
    OptimizerT<typename detail::NonDeduced<T>::type>* optimizer,
    const NamedTensorsT<typename detail::NonDeduced<T>::type>& extra, LRScheduler* scheduler) {
  // Note [loading changes nothing on failure]: phase 1 checks and gathers, phase 2 copies.
  const Reader r{path};
  const SafetensorsFile f = load_safetensors(path);
  check_format(r, f);
  std::unordered_map<std::string, const StoredTensor*> by_name;
  for (const auto& [name, t] : f.tensors) by_name.emplace(name, &t);

  const Dtype want = dtype_of<T>();
  auto find = [&](const std::string& stored, const TensorT<T>& into,
                  const std::string& what) -> const StoredTensor* {
    const auto it = by_name.find(stored);
    if (it == by_name.end()) throw r.fail("missing tensor '" + stored + "' (" + what + ")");
    const StoredTensor& t = *it->second;
    if (t.dtype() != want)
      throw r.fail("tensor '" + stored + "' has dtype " + dtype_name(t.dtype()) + " but " + what +
                   " is " + dtype_name(want));
    if (t.shape() != into.shape())
      throw r.fail("tensor '" + stored + "' has shape " + to_string(t.shape()) + " but " + what +
                   " has shape " + to_string(into.shape()));
    return &t;
  };

  // The model: exactly its parameters.
  const NamedTensorsT<T> params = model.named_parameters();
  check_param_names(params, "load_checkpoint");
  std::vector<std::pair<TensorT<T>, const StoredTensor*>> copies;
  std::unordered_set<std::string> expected;
  for (const auto& [name, p] : params) {
    copies.emplace_back(p, find(name, p, "the model's parameter '" + name + "'"));
    expected.insert(name);
  }
  for (const auto& [name, t] : f.tensors)
    if (!starts_with(name, kOptimPrefix) && !starts_with(name, kExtraPrefix) &&
        !expected.count(name))
      throw r.fail("unexpected tensor '" + name + "': the model has no parameter of that name");

  // The optimizer: same kind, same groups, a state it accepts.
  NamedTensorsT<T> state;
  std::vector<double> lrs, wds;
  if (optimizer) {
    const std::string& kind =
        r.meta(f, kOptimizerKey, "the checkpoint was saved without optimizer state");
    if (kind != optimizer->name())
      throw r.fail("it holds " + kind + " optimizer state, not " + optimizer->name());
    const long groups = r.meta_count(f, std::string(kOptimizerKey) + ".groups");
    if (std::size_t(groups) != optimizer->num_groups())
      throw r.fail("its optimizer has " + std::to_string(groups) + " parameter group(s), this one " +
                   std::to_string(optimizer->num_groups()));
    for (std::size_t g = 0; g < optimizer->num_groups(); ++g) {
      lrs.push_back(r.meta_number(f, group_key(g, "lr")));
      wds.push_back(r.meta_number(f, group_key(g, "weight_decay")));
    }
    for (const auto& [name, t] : f.tensors) {
      if (!starts_with(name, kOptimPrefix)) continue;
      if (t.dtype() != want)
        throw r.fail("tensor '" + name + "' has dtype " + dtype_name(t.dtype()) +
                     " but the optimizer's state is " + dtype_name(want));
      state.emplace_back(name.substr(kOptimPrefix.size()), TensorT<T>::constant(t.template get<T>()));
    }
    try {
      optimizer->check_state(state);
    } catch (const std::invalid_argument& e) {
      throw r.fail(std::string("optimizer state: ") + e.what());
    }
  }

  // Extra tensors: the ones asked for.
  std::vector<std::pair<TensorT<T>, const StoredTensor*>> extra_copies;
  for (const auto& [name, t] : extra) {
    if (!t.defined()) throw std::invalid_argument("load_checkpoint: extra tensor '" + name +
                                                  "' is undefined");
    extra_copies.emplace_back(t, find(kExtraPrefix + name, t, "the extra tensor '" + name + "'"));
  }

  // The schedule: same kind, a valid position.
  long last_step = 0;
  std::vector<double> base_lrs;
  if (scheduler) {
    const std::string& kind =
        r.meta(f, kSchedulerKey, "the checkpoint was saved without a learning-rate schedule");
    if (kind != scheduler->name())
      throw r.fail("it holds the position of a " + kind + " schedule, not " + scheduler->name());
    last_step = r.meta_count(f, std::string(kSchedulerKey) + ".last_step");
    for (std::size_t g = 0; g < scheduler->optimizer().num_groups(); ++g)
      base_lrs.push_back(r.meta_number(f, base_lr_key(g)));
    if (f.metadata.count(base_lr_key(base_lrs.size())))
      throw r.fail("its schedule has more base lrs than the optimizer has groups");
    try {
      scheduler->check_state(last_step, base_lrs);
    } catch (const std::invalid_argument& e) {
      throw r.fail(std::string("schedule: ") + e.what());
    }
  }

  // Phase 2: everything checked; copy. The optimizer goes first: it is the only step that
  // allocates, so running out of memory there still leaves the model untouched.
  if (optimizer) {
    optimizer->load_state(state);
    for (std::size_t g = 0; g < lrs.size(); ++g) {
      optimizer->set_lr(g, lrs[g]);
      optimizer->set_weight_decay(g, wds[g]);
    }
  }
  if (scheduler) scheduler->load_state(last_step, base_lrs);
  for (auto* list : {&copies, &extra_copies})
    for (auto& [into, from] : *list)
      if (into.numel()) std::memcpy(into.data(), from->bytes(), into.numel() * sizeof(T));
  return caller_metadata(f);
}

std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path) {
  const SafetensorsFile f = load_safetensors(path);
  check_format(Reader{path}, f);
  return caller_metadata(f);
}

template void save_checkpoint(const std::string&, const ModuleT<float>&, const OptimizerT<float>*,
                              const NamedTensorsT<float>&,
                              const std::map<std::string, std::string>&, const LRScheduler*);
template void save_checkpoint(const std::string&, const ModuleT<double>&,
                              const OptimizerT<double>*, const NamedTensorsT<double>&,
                              const std::map<std::string, std::string>&, const LRScheduler*);
template std::map<std::string, std::string> load_checkpoint(const std::string&, ModuleT<float>&,
                                                            OptimizerT<float>*,
                                                            const NamedTensorsT<float>&,
                                                            LRScheduler*);
template std::map<std::string, std::string> load_checkpoint(const std::string&, ModuleT<double>&,
                                                            OptimizerT<double>*,
                                                            const NamedTensorsT<double>&,
                                                            LRScheduler*);

}  // namespace tg
