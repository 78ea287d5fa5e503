#include <tapegrad/optim/optimizer.hpp>

#include "detail/checks.hpp"

#include <tapegrad/autograd/detail/tensor_impl.hpp>
#include <tapegrad/autograd/number_text.hpp>

#include <cmath>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>

namespace tg {
namespace {

void check_group_index(const char* what, std::size_t group, std::size_t n) {
  if (group >= n)
    throw std::out_of_range(std::string(what) + ": group " + std::to_string(group) +
                            " does not exist; the optimizer has " + std::to_string(n) +
                            " group(s)");
}

// Whether `count` survives a round trip through `dtype` (float32 counts exactly up to 2^24).
bool count_is_exact(long count, Dtype dtype) {
  return dtype == kFloat64 ? long(double(count)) == count : long(float(count)) == count;
}

}  // namespace

// ---- lr and weight decay ----

double Optimizer::lr(std::size_t group) const {
  check_group_index("lr", group, lr_.size());
  return lr_[group];
}

void Optimizer::set_lr(double lr) {
  for (std::size_t g = 0; g < lr_.size(); ++g) set_lr(g, lr);
}

void Optimizer::check_lr(double lr) {
  if (!(lr >= 0.0) || !std::isfinite(lr))
    throw std::invalid_argument("set_lr: the learning rate must be finite and >= 0, got " +
                                exact_text(lr));
}

void Optimizer::set_lr(std::size_t group, double lr) {
  check_group_index("set_lr", group, lr_.size());
  check_lr(lr);
  lr_[group] = lr;
}

double Optimizer::weight_decay(std::size_t group) const {
  check_group_index("weight_decay", group, weight_decay_.size());
  return weight_decay_[group];
}

void Optimizer::check_weight_decay(double weight_decay) {
  if (!(weight_decay >= 0.0) || !std::isfinite(weight_decay))
    throw std::invalid_argument("set_weight_decay: the weight decay must be finite and >= 0, got " +
                                exact_text(weight_decay));
}

void Optimizer::set_weight_decay(std::size_t group, double weight_decay) {
  check_group_index("set_weight_decay", group, weight_decay_.size());
  check_weight_decay(weight_decay);
  weight_decay_[group] = weight_decay;
}

// ---- groups ----

std::vector<ParamGroup> weight_decay_groups(const NamedTensors& params) {
  NamedTensors decay, no_decay;
  for (const auto& [name, p] : params) (p.dim() >= 2 ? decay : no_decay).emplace_back(name, p);
  return {ParamGroup(std::move(decay)), ParamGroup(std::move(no_decay), std::nullopt, 0.0)};
}

// ---- parameters and state ----

void Optimizer::require(bool ok, const char* who, const char* what, const char* rule,
                            double value) {
  detail::require(ok, who, what, rule, value);
}

Optimizer::Optimizer(const char* who, std::vector<ParamGroup> groups, double lr,
                          double weight_decay, std::vector<std::string> state_names,
                          bool counts_steps)
    : state_names_(std::move(state_names)), counts_steps_(counts_steps) {
  std::unordered_set<const void*> seen_tensors;
  std::unordered_map<std::string, std::size_t> seen_names;  // name -> group
  for (std::size_t g = 0; g < groups.size(); ++g) {
    const double group_lr = groups[g].lr.value_or(lr);
    const double group_wd = groups[g].weight_decay.value_or(weight_decay);
    detail::require_finite_nonnegative(who, "lr", group_lr);
    detail::require_finite_nonnegative(who, "weight_decay", group_wd);
    lr_.push_back(group_lr);
    weight_decay_.push_back(group_wd);
    for (std::size_t i = 0; i < groups[g].params.size(); ++i) {
      auto& [given_name, p] = groups[g].params[i];
      const std::string name =
          given_name.empty() ? std::to_string(g) + "." + std::to_string(i) : given_name;
      if (!p.defined())
        throw std::invalid_argument(std::string(who) + ": parameter '" + name +
                                    "' is an undefined tensor");
      if (!p.is_leaf())
        throw std::invalid_argument(std::string(who) + ": parameter '" + name +
                                    "' is not a leaf (it was produced by op '" + p.producer_op() +
                                    "'); optimizers update leaves such as Tensor::param()");
      if (!seen_tensors.insert(detail::impl_ptr(p).get()).second)
        throw std::invalid_argument(std::string(who) + ": parameter '" + name +
                                    "' is the same tensor as an earlier parameter; give each "
                                    "tensor to the optimizer once");
      const auto [it, inserted] = seen_names.emplace(name, g);
      if (!inserted)
        throw std::invalid_argument(std::string(who) + ": two parameters are called '" + name +
                                    "' (groups " + std::to_string(it->second) + " and " +
                                    std::to_string(g) + "); names key the optimizer state");
      Slot slot;
      slot.param = p;
      slot.name = name;
      slot.group = g;
      slots_.push_back(std::move(slot));
    }
  }
  if (slots_.empty())
    throw std::invalid_argument(std::string(who) + ": got no parameters to optimize");
}

void Optimizer::step() {
  for (Slot& s : slots_) {
    if (!s.param.requires_grad() || !s.param.has_grad()) continue;  // frozen, or no gradient
    const Dtype dtype = s.param.dtype();
    if (s.fresh) {
      s.buffers.clear();
      for (std::size_t k = 0; k < state_names_.size(); ++k)
        s.buffers.push_back(Tensor::full(s.param.shape(), initial_value(k), dtype));
    }
    for (Tensor& b : s.buffers)  // the parameter was converted (Note [optimizer state dtype])
      if (b.dtype() != dtype) b = b.to(dtype);  // buffers need no grad: nothing is recorded
    ++s.step;
    update(s, lr_[s.group], weight_decay_[s.group]);
    s.fresh = false;
  }
}

void Optimizer::zero_grad(bool set_to_none) {
  for (Slot& s : slots_) s.param.zero_grad(set_to_none);
}

NamedTensors Optimizer::named_parameters() const {
  NamedTensors out;
  for (const Slot& s : slots_) out.emplace_back(s.name, s.param);
  return out;
}

std::vector<Tensor> Optimizer::parameters() const {
  std::vector<Tensor> out;
  for (const Slot& s : slots_) out.push_back(s.param);
  return out;
}

std::size_t Optimizer::num_params() const {
  return slots_.size();
}

NamedTensors Optimizer::state() const {
  NamedTensors out;
  for (const Slot& s : slots_) {
    if (s.fresh) continue;
    const Dtype dtype = s.param.dtype();
    if (counts_steps_) {
      if (!count_is_exact(s.step, dtype))
        throw std::overflow_error("state: the step count " + std::to_string(s.step) + " of '" +
                                  s.name + "' is not exact in " + dtype_name(dtype) +
                                  " (float32 counts exactly up to 2^24); use exact_state()");
      out.emplace_back("step." + s.name, Tensor::scalar(double(s.step), dtype));
    }
    for (std::size_t k = 0; k < state_names_.size(); ++k)
      out.emplace_back(state_names_[k] + "." + s.name, s.buffers[k].detach().to(dtype));
  }
  return out;
}

Optimizer::ExactState Optimizer::exact_state() const {
  ExactState out;
  for (const Slot& s : slots_) {
    if (s.fresh) continue;
    if (counts_steps_) out.steps.emplace_back("step." + s.name, std::int64_t(s.step));
    for (std::size_t k = 0; k < state_names_.size(); ++k)
      out.buffers.emplace_back(state_names_[k] + "." + s.name,
                               s.buffers[k].detach().to(s.param.dtype()));
  }
  return out;
}

void Optimizer::check_state(const NamedTensors& state) const {
  check_state(state, {});
}

void Optimizer::check_state(const NamedTensors& state, const StepCounts& steps) const {
  const std::string who = name();
  std::unordered_map<std::string, std::size_t> slot_of;
  for (std::size_t i = 0; i < slots_.size(); ++i) slot_of.emplace(slots_[i].name, i);
  // Entry 0 is the step count (when kept), then one per buffer.
  std::vector<std::string> kinds;
  if (counts_steps_) kinds.push_back("step");
  kinds.insert(kinds.end(), state_names_.begin(), state_names_.end());
  std::string kept;
  for (const auto& k : kinds) kept += (kept.empty() ? "" : ", ") + k;

  std::vector<std::vector<bool>> found(slots_.size(), std::vector<bool>(kinds.size(), false));
  // Which parameter and kind `key` names; std::invalid_argument if none, or given before.
  auto classify = [&](const std::string& key) -> std::pair<std::size_t, std::size_t> {
    std::size_t slot = slots_.size(), kind = kinds.size();
    for (std::size_t k = 0; k < kinds.size() && slot == slots_.size(); ++k) {
      const std::string prefix = kinds[k] + ".";
      if (key.compare(0, prefix.size(), prefix) != 0) continue;
      const auto it = slot_of.find(key.substr(prefix.size()));
      if (it != slot_of.end()) slot = it->second, kind = k;
    }
    if (slot == slots_.size())
      throw std::invalid_argument(
          "load_state: unexpected state tensor '" + key + "'; " + who +
          (kinds.empty() ? std::string(" with these options keeps no state")
                         : " keeps " + kept + " per parameter, named '<kind>.<parameter name>'"));
    if (found[slot][kind])
      throw std::invalid_argument("load_state: the state tensor '" + key + "' is given twice");
    found[slot][kind] = true;
    return {slot, kind};
  };
  auto check_count = [&](const std::string& key, double v) {
    if (!(v >= 0.0) || !(v <= double(kMaxStepCount)) || v != std::floor(v))
      throw std::invalid_argument("load_state: the step count '" + key +
                                  "' must be a whole number >= 0, got " + exact_text(v));
  };
  for (const auto& [key, count] : steps) {
    if (!(counts_steps_ && classify(key).second == 0))
      throw std::invalid_argument("load_state: '" + key + "' is given as a step count but " +
                                  "names a state tensor");
    if (count < 0 || count > kMaxStepCount)
      throw std::invalid_argument("load_state: the step count '" + key + "' must be a whole "
                                  "number in [0, " + std::to_string(kMaxStepCount) + "], got " +
                                  std::to_string(count));
  }
  for (const auto& [key, t] : state) {
    const auto [slot, kind] = classify(key);
    if (!t.defined())
      throw std::invalid_argument("load_state: the state tensor '" + key + "' is undefined");
    const bool is_step = counts_steps_ && kind == 0;
    if (is_step) {
      if (t.numel() != 1)
        throw std::invalid_argument("load_state: the step count '" + key +
                                    "' must hold one element, got shape " + to_string(t.shape()));
      check_count(key, t.item());
    } else if (t.shape() != slots_[slot].param.shape()) {
      throw std::invalid_argument("load_state: the state tensor '" + key + "' has shape " +
                                  to_string(t.shape()) + " but parameter '" +
                                  slots_[slot].name + "' has shape " +
                                  to_string(slots_[slot].param.shape()));
    }
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    std::size_t n = 0;
    std::string missing;
    for (std::size_t k = 0; k < kinds.size(); ++k) {
      n += found[i][k];
      if (!found[i][k]) missing += (missing.empty() ? "'" : ", '") + kinds[k] + "." + slots_[i].name + "'";
    }
    if (n != 0 && n != kinds.size())
      throw std::invalid_argument("load_state: parameter '" + slots_[i].name +
                                  "' has only part of its state; missing " + missing);
  }
}

void Optimizer::load_state(const NamedTensors& state) {
  load_state(state, {});
}

void Optimizer::load_state(const NamedTensors& state, const StepCounts& steps) {
  check_state(state, steps);
  std::unordered_map<std::string, std::size_t> slot_of;
  for (std::size_t i = 0; i < slots_.size(); ++i) slot_of.emplace(slots_[i].name, i);
  // Build the new state aside, then commit with moves only: nothing changes on an exception.
  std::vector<Slot> next(slots_.size());
  for (std::size_t i = 0; i < slots_.size(); ++i) next[i].buffers.resize(state_names_.size());
  for (const auto& [key, t] : state) {
    const std::size_t dot = key.find('.');
    const std::string kind = key.substr(0, dot);
    const std::size_t i = slot_of.at(key.substr(dot + 1));
    next[i].fresh = false;
    if (counts_steps_ && kind == "step") {
      next[i].step = static_cast<long>(t.item());
      continue;
    }
    for (std::size_t k = 0; k < state_names_.size(); ++k)
      if (state_names_[k] == kind) next[i].buffers[k] = t.detach().to(slots_[i].param.dtype());
  }
  for (const auto& [key, count] : steps) {  // "step.<name>", checked
    const std::size_t i = slot_of.at(key.substr(key.find('.') + 1));
    next[i].fresh = false;
    next[i].step = long(count);
  }
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    slots_[i].fresh = next[i].fresh;
    slots_[i].step = next[i].step;
    slots_[i].buffers = std::move(next[i].buffers);
    if (slots_[i].fresh) slots_[i].buffers.clear();
  }
}

}  // namespace tg
