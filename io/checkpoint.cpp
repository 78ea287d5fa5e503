#include <tapegrad/io/checkpoint.hpp>

#include <tapegrad/autograd/number_text.hpp>

#include <cmath>
#include <cstring>
#include <unordered_map>
#include <unordered_set>

namespace tg {
namespace {

constexpr const char* kVersionKey = "tapegrad.checkpoint_version";
// Note [checkpoint versions]: "1" for files without step counts stored as I64 (the first
// release stored them as 0-d tensors of the scalar type, F32 or F64), "2" when they are, so
// that a reader of version 1 only refuses the files it cannot read. Both are read.
constexpr const char* kVersion = "1";
constexpr const char* kVersionExactSteps = "2";
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
  // A decimal number (tg::parse_finite): finite, >= 0.
  double meta_number(const SafetensorsFile& f, const std::string& key) const {
    double v = 0;
    const std::string& s = meta(f, key, "needed to restore it");
    if (!parse_finite(s, v) || v < 0.0)
      throw fail("the metadata '" + key + "' = '" + quote_input(s) + "' is not a finite number >= 0");
    return v;
  }
  // A whole decimal number (tg::parse_whole) in [0, max].
  long meta_count(const SafetensorsFile& f, const std::string& key, long max) const {
    std::uint64_t v = 0;
    const std::string& s = meta(f, key, "needed to restore it");
    if (!parse_whole(s, v))
      throw fail("the metadata '" + key + "' = '" + quote_input(s) + "' is not a whole number >= 0");
    if (v > std::uint64_t(max))
      throw fail("the metadata '" + key + "' = '" + quote_input(s) + "' exceeds the limit " +
                 std::to_string(max));
    return long(v);
  }
};

// The structure and CRCs were checked by load_safetensors; here: ours, and our version.
void check_format(const Reader& r, const SafetensorsFile& f) {
  for (const char* key : {"crc32", "header_crc32"})
    if (!f.metadata.count(key))
      throw r.fail(std::string("the metadata has no '") + key +
                   "' entry: not a tapegrad checkpoint, so it cannot be checked for corruption");
  const std::string& version = r.meta(f, kVersionKey, "not a tapegrad checkpoint");
  if (version != kVersion && version != kVersionExactSteps)
    throw r.fail("checkpoint format version '" + quote_input(version) +
                 "'; this tapegrad reads versions " + kVersion + " and " + kVersionExactSteps);
}

std::map<std::string, std::string> caller_metadata(const SafetensorsFile& f) {
  std::map<std::string, std::string> out;
  for (const auto& [k, v] : f.metadata)
    if (!is_reserved_key(k)) out.emplace(k, v);
  return out;
}

void check_param_names(const NamedTensors& params, const char* who) {
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
    // Step counts as I64, exact far past float's 2^24 (Note [checkpoint versions]).
    const auto state = optimizer->exact_state();
    for (const auto& [name, count] : state.steps)
      tensors.emplace_back(kOptimPrefix + name, StoredTensor(xt::xarray<std::int64_t>(count)));
    if (!state.steps.empty()) meta[kVersionKey] = kVersionExactSteps;
    for (const auto& [name, t] : state.buffers)
      tensors.emplace_back(kOptimPrefix + name, StoredTensor(t));
    meta[kOptimizerKey] = optimizer->name();
    meta[std::string(kOptimizerKey) + ".groups"] = std::to_string(optimizer->num_groups());
    for (std::size_t g = 0; g < optimizer->num_groups(); ++g) {
      meta[group_key(g, "lr")] = exact_text(optimizer->lr(g));
      meta[group_key(g, "weight_decay")] = exact_text(optimizer->weight_decay(g));
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
      meta[base_lr_key(g)] = exact_text(scheduler->base_lrs()[g]);
  }
  save_safetensors(path, tensors, meta);
}

// ---- loading: gather, validate, commit ----
//
// Note [loading changes nothing on failure]: gather_* read the file into a LoadPlan (nothing is
// written anywhere), validate checks the plan against the objects, commit writes it. Only
// commit changes the model, optimizer, extras or scheduler, and it runs once everything passed.

namespace {

template <class T>
struct LoadPlan {
  struct Copy {
    std::string stored;        // the tensor's name in the file
    Tensor into;           // where it goes
    const StoredTensor* from;  // its dtype and shape match `into`
  };
  std::vector<Copy> params, extras;
  NamedTensorsT<T> state;  // the optimizer's tensors, names without "optim."
  StepCounts steps;        // the optimizer's I64 step counts, names without "optim."
  std::vector<double> lrs, wds;
  long last_step = 0;
  std::vector<double> base_lrs;
};

// The file's tensors by name, and the lookup of one that must match a destination tensor.
template <class T>
struct TensorIndex {
  const Reader& r;
  std::unordered_map<std::string, const StoredTensor*> by_name;

  TensorIndex(const Reader& reader, const SafetensorsFile& f) : r(reader) {
    for (const auto& [name, t] : f.tensors) by_name.emplace(name, &t);
  }
  typename LoadPlan<T>::Copy find(const std::string& stored, const Tensor& into,
                                  const std::string& what) const {
    const StoredDtype want = stored_dtype_of<T>();
    const auto it = by_name.find(stored);
    if (it == by_name.end()) throw r.fail("missing tensor '" + stored + "' (" + what + ")");
    const StoredTensor& t = *it->second;
    if (t.dtype() != want)
      throw r.fail("tensor '" + stored + "' has dtype " + stored_dtype_name(t.dtype()) + " but " + what +
                   " is " + stored_dtype_name(want));
    if (t.shape() != into.shape())
      throw r.fail("tensor '" + stored + "' has shape " + to_string(t.shape()) + " but " + what +
                   " has shape " + to_string(into.shape()));
    return {stored, into, &t};
  }
};

// The model: exactly its parameters.
template <class T>
void gather_params(const Reader& r, const SafetensorsFile& f, const TensorIndex<T>& index,
                   const ModuleT<T>& model, LoadPlan<T>& plan) {
  const NamedTensorsT<T> params = model.named_parameters();
  check_param_names(params, "load_checkpoint");
  std::unordered_set<std::string> expected;
  for (const auto& [name, p] : params) {
    plan.params.push_back(index.find(name, p, "the model's parameter '" + name + "'"));
    expected.insert(name);
  }
  for (const auto& [name, t] : f.tensors)
    if (!starts_with(name, kOptimPrefix) && !starts_with(name, kExtraPrefix) &&
        !expected.count(name))
      throw r.fail("unexpected tensor '" + quote_input(name) +
                   "': the model has no parameter of that name");
}

// The optimizer: same kind, same groups; its lrs, weight decays, state tensors and step
// counts (I64, or, from the first release, tensors of the scalar type).
template <class T>
void gather_optimizer(const Reader& r, const SafetensorsFile& f, const OptimizerT<T>& optimizer,
                      LoadPlan<T>& plan) {
  const std::string& kind = r.meta(f, kOptimizerKey, "the checkpoint was saved without optimizer state");
  if (kind != optimizer.name())
    throw r.fail("it holds " + quote_input(kind) + " optimizer state, not " + optimizer.name());
  const std::size_t groups = std::size_t(r.meta_count(f, std::string(kOptimizerKey) + ".groups", 1000000));
  if (groups != optimizer.num_groups())
    throw r.fail("its optimizer has " + std::to_string(groups) + " parameter group(s), this one " +
                 std::to_string(optimizer.num_groups()));
  for (std::size_t g = 0; g < groups; ++g) {
    plan.lrs.push_back(r.meta_number(f, group_key(g, "lr")));
    plan.wds.push_back(r.meta_number(f, group_key(g, "weight_decay")));
  }
  if (f.metadata.count(group_key(groups, "lr")) || f.metadata.count(group_key(groups, "weight_decay")))
    throw r.fail("its optimizer has settings for more groups than its " + std::to_string(groups));
  const StoredDtype want = stored_dtype_of<T>();
  const std::string step_prefix = kOptimPrefix + "step.";
  for (const auto& [name, t] : f.tensors) {
    if (!starts_with(name, kOptimPrefix)) continue;
    const std::string key = name.substr(kOptimPrefix.size());
    if (t.dtype() == StoredDtype::I64 && starts_with(name, step_prefix)) {
      if (t.numel() != 1)
        throw r.fail("the step count '" + quote_input(name) + "' must hold one element, got shape " +
                     to_string(t.shape()));
      plan.steps.emplace_back(key, *t.template get<std::int64_t>().data());
      continue;
    }
    if (t.dtype() != want)
      throw r.fail("tensor '" + quote_input(name) + "' has dtype " + stored_dtype_name(t.dtype()) +
                   " but the optimizer's state is " + stored_dtype_name(want));
    plan.state.emplace_back(key, Tensor::constant(t.template get<T>()));
  }
}

// Extra tensors: the ones asked for.
template <class T>
void gather_extras(const TensorIndex<T>& index, const NamedTensorsT<T>& extra, LoadPlan<T>& plan) {
  for (const auto& [name, t] : extra) {
    if (!t.defined())
      throw std::invalid_argument("load_checkpoint: extra tensor '" + name + "' is undefined");
    plan.extras.push_back(index.find(kExtraPrefix + name, t, "the extra tensor '" + name + "'"));
  }
}

// The schedule: same kind, its position and base lrs.
template <class T>
void gather_schedule(const Reader& r, const SafetensorsFile& f, const LRScheduler& scheduler,
                     LoadPlan<T>& plan) {
  const std::string& kind =
      r.meta(f, kSchedulerKey, "the checkpoint was saved without a learning-rate schedule");
  if (kind != scheduler.name())
    throw r.fail("it holds the position of a " + quote_input(kind) + " schedule, not " +
                 scheduler.name());
  plan.last_step = r.meta_count(f, std::string(kSchedulerKey) + ".last_step",
                                Optimizer::kMaxStepCount);
  for (std::size_t g = 0; g < scheduler.optimizer().num_groups(); ++g)
    plan.base_lrs.push_back(r.meta_number(f, base_lr_key(g)));
  if (f.metadata.count(base_lr_key(plan.base_lrs.size())))
    throw r.fail("its schedule has more base lrs than the optimizer has groups");
}

// Every value a float tensor brings must be finite: a NaN or infinity is refused, naming the
// tensor, rather than loaded into a model that would then compute NaN.
template <class T>
void require_finite(const Reader& r, const std::string& stored, const T* v, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i)
    if (!std::isfinite(v[i]))
      throw r.fail("tensor '" + quote_input(stored) + "' holds a non-finite value (" +
                   exact_text(double(v[i])) + ") at element " + std::to_string(i));
}

// The checks the objects themselves make, and finiteness, run before anything changes.
template <class T>
void validate(const Reader& r, const LoadPlan<T>& plan, const OptimizerT<T>* optimizer,
              const LRScheduler* scheduler) {
  for (const auto* list : {&plan.params, &plan.extras})
    for (const auto& c : *list)
      require_finite(r, c.stored, static_cast<const T*>(c.from->bytes()), c.from->numel());
  for (const auto& [name, t] : plan.state) require_finite(r, kOptimPrefix + name, t.template data<T>(), t.numel());
  if (optimizer) {
    for (std::size_t g = 0; g < plan.lrs.size(); ++g) {
      try {
        Optimizer::check_lr(plan.lrs[g]);
        Optimizer::check_weight_decay(plan.wds[g]);
      } catch (const std::invalid_argument& e) {
        throw r.fail("optimizer group " + std::to_string(g) + ": " + e.what());
      }
    }
    try {
      optimizer->check_state(plan.state, plan.steps);
    } catch (const std::invalid_argument& e) {
      throw r.fail(std::string("optimizer state: ") + e.what());
    }
  }
  if (scheduler) {
    try {
      scheduler->check_state(plan.last_step, plan.base_lrs);
    } catch (const std::invalid_argument& e) {
      throw r.fail(std::string("schedule: ") + e.what());
    }
  }
}

// Everything checked: copy. The optimizer goes first: it is the only step that allocates, so
// running out of memory there still leaves the model untouched.
template <class T>
void commit(const LoadPlan<T>& plan, OptimizerT<T>* optimizer, LRScheduler* scheduler) {
  if (optimizer) {
    optimizer->load_state(plan.state, plan.steps);
    for (std::size_t g = 0; g < plan.lrs.size(); ++g) {
      optimizer->set_lr(g, plan.lrs[g]);
      optimizer->set_weight_decay(g, plan.wds[g]);
    }
  }
  if (scheduler) scheduler->load_state(plan.last_step, plan.base_lrs);
  for (const auto* list : {&plan.params, &plan.extras})
    for (const auto& c : *list) {
      Tensor into = c.into;
      if (into.numel()) std::memcpy(into.template mutable_data<T>(), c.from->bytes(), into.numel() * sizeof(T));
    }
}

}  // namespace

template <class T>
std::map<std::string, std::string> load_checkpoint(
    const std::string& path, ModuleT<T>& model,
    OptimizerT<typename detail::NonDeduced<T>::type>* optimizer,
    const NamedTensorsT<typename detail::NonDeduced<T>::type>& extra, LRScheduler* scheduler) {
  const Reader r{path};
  const SafetensorsFile f = load_safetensors(path);
  check_format(r, f);
  LoadPlan<T> plan;
  try {
    const TensorIndex<T> index(r, f);
    gather_params(r, f, index, model, plan);
    if (optimizer) gather_optimizer(r, f, *optimizer, plan);
    gather_extras(index, extra, plan);
    if (scheduler) gather_schedule(r, f, *scheduler, plan);
  } catch (const std::bad_alloc&) {
    throw AllocationError(r.fail("out of memory while gathering its tensors for loading").what());
  }
  validate(r, plan, optimizer, scheduler);
  commit(plan, optimizer, scheduler);  // Note [loading changes nothing on failure]
  return caller_metadata(f);
}

std::map<std::string, std::string> read_checkpoint_metadata(const std::string& path) {
  return read_checkpoint_summary(path).metadata;
}

CheckpointSummary read_checkpoint_summary(const std::string& path) {
  const SafetensorsFile f = load_safetensors(path);
  check_format(Reader{path}, f);
  CheckpointSummary s{caller_metadata(f), {}};
  for (const auto& [name, t] : f.tensors) s.shapes.emplace(name, t.shape());
  return s;
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
