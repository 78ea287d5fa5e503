#include <tapegrad/layers/module.hpp>

#include <stdexcept>

#include <tapegrad/autograd/detail/tensor_impl.hpp>

namespace tg {

void Module::collect(const std::string& prefix, NamedTensors& out) const {
  for (const auto& [name, p] : params_) out.emplace_back(prefix + name, p);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

Tensor Module::parameter(const std::string& name) const {
  for (auto& [n, p] : named_parameters())
    if (n == name) return p;
  throw std::out_of_range("parameter: this module has no parameter named '" + name + "'");
}

std::size_t Module::parameter_count() const {
  std::size_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

void Module::to(Dtype dtype) {
  const NamedTensors params = named_parameters();
  for (const auto& [name, p] : params) detail::check_convertible(p, "Module::to");
  for (const auto& [name, p] : params) detail::convert_in_place(p, dtype);
}

Dtype Module::dtype() const {
  if (const Tensor* p = first_parameter()) return p->dtype();
  return kFloat32;
}

const Tensor* Module::first_parameter() const {
  if (!params_.empty()) return &params_.front().second;
  for (const auto& [name, child] : children_)
    if (const Tensor* p = child->first_parameter()) return p;
  return nullptr;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
  for (Module* child : mode_children_) child->train(on);
}

void Module::zero_grad(bool set_to_none) {
  for (auto& [name, p] : named_parameters()) p.zero_grad(set_to_none);
}

std::size_t Module::set_requires_grad(const std::string& prefix, bool on) {
  std::size_t changed = 0;
  for (auto& [name, p] : named_parameters())
    if (name.compare(0, prefix.size(), prefix) == 0) {
      p.set_requires_grad(on);
      ++changed;
    }
  if (changed == 0)
    throw std::out_of_range("set_requires_grad: no parameter name starts with '" + prefix + "'");
  return changed;
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument("register_parameter: '" + name + "' must be non-empty without dots");
  for (auto& [n, p] : params_)
    if (n == name) throw std::invalid_argument("register_parameter: '" + name + "' is registered twice");
  if (!value.is_leaf()) throw std::invalid_argument("register_parameter: '" + name + "' must be a leaf");
  value.set_name(name);  // a child's parameters get their dotted path when it is registered
  params_.emplace_back(name, value);
  return value;
}

void Module::register_module(const std::string& name, Module& child) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument("register_module: '" + name + "' must be non-empty without dots");
  if (&child == this) throw std::invalid_argument("register_module: a module cannot contain itself");
  children_.emplace_back(name, &child);
  for (auto& [path, p] : child.named_parameters()) p.set_name(name + "." + path);  // error messages name it
  child.train(training_);
}

void Module::register_mode_child(Module& child) {
  if (&child == this) throw std::invalid_argument("register_mode_child: a module cannot contain itself");
  mode_children_.push_back(&child);
  child.train(training_);
}

}  // namespace tg
