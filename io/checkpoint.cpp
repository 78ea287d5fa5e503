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

void save_checkpoint(const std::string& path, const Module& model, const SaveCheckpointOptions& options) {
  const Optimizer* optimizer = options.optimizer();
  const LRScheduler* scheduler = options.scheduler();
  std::map<std::string, std::string> meta;
  for (const auto& [k, v] : options.metadata()) {
    if (is_reserved_key(k))
      throw std::invalid_argument("save_checkpoint: the metadata key '" + k +
                                  "' is reserved (keys starting with 'tapegrad.', 'crc32', "
                                  "'header_crc32')");
    meta.emplace(k, v);
  }
  meta[kVersionKey] = kVersion;

  StoredTensors tensors;
  const NamedTensors params = model.named_parameters();
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
  for (const auto& [name, t] : options.extra()) {
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

struct LoadPlan {
  struct Copy {
    std::string stored;        // the tensor's name in the file
    Tensor into;               // where it goes
    const StoredTensor* from;  // F32 or F64, of `into`'s shape; converted to its dtype
  };
  std::vector<Copy> params, extras;
  NamedTensors state;  // the optimizer's tensors, names without "optim.", as stored
  StepCounts steps;    // the optimizer's I64 step counts, names without "optim."
  std::vector<double> lrs, wds;
  long last_step = 0;
  std::vector<double> base_lrs;
};

bool is_float(StoredDtype d) { return d == StoredDtype::F32 || d == StoredDtype::F64; }

// The file's tensors by name, and the lookup of one that must match a destination tensor.
struct TensorIndex {
  const Reader& r;
  std::unordered_map<std::string, const StoredTensor*> by_name;

  TensorIndex(const Reader& reader, const SafetensorsFile& f) : r(reader) {
    for (const auto& [name, t] : f.tensors) by_name.emplace(name, &t);
  }
  LoadPlan::Copy find(const std::string& stored, const Tensor& into, const std::string& what) const {
    const auto it = by_name.find(stored);
    if (it == by_name.end()) throw r.fail("missing tensor '" + stored + "' (" + what + ")");
    const StoredTensor& t = *it->second;
    if (!is_float(t.dtype()))  // F32 and F64 convert into either (Note [dtypes across files])
      throw r.fail("tensor '" + stored + "' has dtype " + stored_dtype_name(t.dtype()) + " but " + what +
                   " is " + dtype_name(into.dtype()));
    if (t.shape() != into.shape())
      throw r.fail("tensor '" + stored + "' has shape " + to_string(t.shape()) + " but " + what +
                   " has shape " + to_string(into.shape()));
    return {stored, into, &t};
  }
};

// The model: exactly its parameters.
void gather_params(const Reader& r, const SafetensorsFile& f, const TensorIndex& index, const Module& model,
                   LoadPlan& plan) {
  const NamedTensors params = model.named_parameters();
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

// A stored float tensor as a Tensor of its own dtype.
Tensor as_tensor(const StoredTensor& t) {
  return t.dtype() == StoredDtype::F32 ? Tensor::constant(t.get<float>()) : Tensor::constant(t.get<double>());
}

// The optimizer: same kind, same groups; its lrs, weight decays, state tensors (F32 or F64)
// and step counts (I64, or, from the first release, 0-d float tensors).
void gather_optimizer(const Reader& r, const SafetensorsFile& f, const Optimizer& optimizer, LoadPlan& plan) {
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
  const std::string step_prefix = kOptimPrefix + "step.";
  for (const auto& [name, t] : f.tensors) {
    if (!starts_with(name, kOptimPrefix)) continue;
    const std::string key = name.substr(kOptimPrefix.size());
    if (t.dtype() == StoredDtype::I64 && starts_with(name, step_prefix)) {
      if (t.numel() != 1)
        throw r.fail("the step count '" + quote_input(name) + "' must hold one element, got shape " +
                     to_string(t.shape()));
      plan.steps.emplace_back(key, *t.get<std::int64_t>().data());
      continue;
    }
    if (!is_float(t.dtype()))
      throw r.fail("tensor '" + quote_input(name) + "' has dtype " + stored_dtype_name(t.dtype()) +
                   " but optimizer state is float32 or float64");
    plan.state.emplace_back(key, as_tensor(t));
  }
}

// Extra tensors: the ones asked for.
void gather_extras(const TensorIndex& index, const NamedTensors& extra, LoadPlan& plan) {
  for (const auto& [name, t] : extra) {
    if (!t.defined())
      throw std::invalid_argument("load_checkpoint: extra tensor '" + name + "' is undefined");
    plan.extras.push_back(index.find(kExtraPrefix + name, t, "the extra tensor '" + name + "'"));
  }
}

// The schedule: same kind, its position and base lrs.
void gather_schedule(const Reader& r, const SafetensorsFile& f, const LRScheduler& scheduler, LoadPlan& plan) {
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

// Every value a float tensor brings must be finite, and stay finite in the dtype it is loaded
// into (Note [dtypes across files]): a NaN, an infinity, or a float64 value beyond float32's
// range bound for float32, is refused, naming the tensor, rather than loaded into a model that
// would then compute NaN.
template <class T>
void require_finite_as(const Reader& r, const std::string& stored, const T* v, std::size_t n, Dtype into) {
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(v[i]))
      throw r.fail("tensor '" + quote_input(stored) + "' holds a non-finite value (" +
                   exact_text(double(v[i])) + ") at element " + std::to_string(i));
    if (into == kFloat32 && !std::isfinite(static_cast<float>(v[i])))
      throw r.fail("tensor '" + quote_input(stored) + "' holds " + exact_text(double(v[i])) + " at element " +
                   std::to_string(i) + ", which overflows float32 (the dtype it loads into)");
  }
}

void require_finite_as(const Reader& r, const std::string& stored, const StoredTensor& t, Dtype into) {
  if (t.dtype() == StoredDtype::F32) require_finite_as(r, stored, t.get<float>().data(), t.numel(), into);
  else require_finite_as(r, stored, t.get<double>().data(), t.numel(), into);
}

void require_finite_as(const Reader& r, const std::string& stored, const Tensor& t, Dtype into) {
  visit_dtype(t.dtype(), [&](auto v) { require_finite_as(r, stored, t.data<decltype(v)>(), t.numel(), into); });
}

// The checks the objects themselves make, and finiteness, run before anything changes.
void validate(const Reader& r, const LoadPlan& plan, const Optimizer* optimizer, const LRScheduler* scheduler) {
  for (const auto* list : {&plan.params, &plan.extras})
    for (const auto& c : *list) require_finite_as(r, c.stored, *c.from, c.into.dtype());
  // A state tensor "<kind>.<parameter name>" loads into its parameter's dtype (float32 for a
  // name of no parameter: check_state refuses it below).
  std::unordered_map<std::string, Dtype> param_dtype;
  if (optimizer)
    for (const auto& [name, p] : optimizer->named_parameters()) param_dtype.emplace(name, p.dtype());
  for (const auto& [name, t] : plan.state) {
    const auto it = param_dtype.find(name.substr(name.find('.') + 1));
    require_finite_as(r, kOptimPrefix + name, t, it == param_dtype.end() ? kFloat32 : it->second);
  }
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

// Copies a stored float tensor into `into`, converting to its dtype.
void copy_converted(const StoredTensor& from, Tensor into) {
  visit_dtype(into.dtype(), [&](auto v) {
    using To = decltype(v);
    To* out = into.mutable_data<To>();
    if (from.dtype() == StoredDtype::F32) std::copy_n(from.get<float>().data(), from.numel(), out);
    else std::transform(from.get<double>().data(), from.get<double>().data() + from.numel(), out,
                        [](double x) { return static_cast<To>(x); });
  });
}

// Everything checked: copy. The optimizer goes first: it is the only step that allocates, so
// running out of memory there still leaves the model untouched.
void commit(const LoadPlan& plan, Optimizer* optimizer, LRScheduler* scheduler) {
  if (optimizer) {
    optimizer->load_state(plan.state, plan.steps);
    for (std::size_t g = 0; g < plan.lrs.size(); ++g) {
      optimizer->set_lr(g, plan.lrs[g]);
      optimizer->set_weight_decay(g, plan.wds[g]);
    }
  }
  if (scheduler) scheduler->load_state(plan.last_step, plan.base_lrs);
  for (const auto* list : {&plan.params, &plan.extras})
    for (const auto& c : *list)
      if (c.into.numel()) copy_converted(*c.from, c.into);
}

}  // namespace

std::map<std::string, std::string> load_checkpoint(const std::string& path, Module& model,
                                                   const LoadCheckpointOptions& options) {
  Optimizer* optimizer = options.optimizer();
  LRScheduler* scheduler = options.scheduler();
  const Reader r{path};
  const SafetensorsFile f = load_safetensors(path);
  check_format(r, f);
  LoadPlan plan;
  try {
    const TensorIndex index(r, f);
    gather_params(r, f, index, model, plan);
    if (optimizer) gather_optimizer(r, f, *optimizer, plan);
    gather_extras(index, options.extra(), plan);  // handles: commit writes the caller's tensors
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

}  // namespace tg
