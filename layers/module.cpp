#include <tapegrad/layers/module.hpp>

#include <stdexcept>

namespace tg {

template <class T>
void ModuleT<T>::collect(const std::string& prefix, NamedTensorsT<T>& out) const {
  for (const auto& [name, p] : params_) out.emplace_back(prefix + name, p);
  for (const auto& [name, child] : children_) child->collect(prefix + name + ".", out);
}

template <class T>
NamedTensorsT<T> ModuleT<T>::named_parameters() const {
  NamedTensorsT<T> out;
  collect("", out);
  return out;
}

template <class T>
std::vector<Tensor> ModuleT<T>::parameters() const {
  std::vector<Tensor> out;
  for (auto& [name, p] : named_parameters()) out.push_back(p);
  return out;
}

template <class T>
Tensor ModuleT<T>::parameter(const std::string& name) const {
  for (auto& [n, p] : named_parameters())
    if (n == name) return p;
  throw std::out_of_range("parameter: this module has no parameter named '" + name + "'");
}

template <class T>
std::size_t ModuleT<T>::parameter_count() const {
  std::size_t n = 0;
  for (auto& [name, p] : named_parameters()) n += p.numel();
  return n;
}

template <class T>
void ModuleT<T>::train(bool on) {
  training_ = on;
  for (auto& [name, child] : children_) child->train(on);
  for (ModuleT* child : mode_children_) child->train(on);
}

template <class T>
void ModuleT<T>::zero_grad(bool set_to_none) {
  for (auto& [name, p] : named_parameters()) p.zero_grad(set_to_none);
}

template <class T>
std::size_t ModuleT<T>::set_requires_grad(const std::string& prefix, bool on) {
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

template <class T>
Tensor ModuleT<T>::register_parameter(const std::string& name, Tensor value) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument("register_parameter: '" + name + "' must be non-empty without dots");
  for (auto& [n, p] : params_)
    if (n == name) throw std::invalid_argument("register_parameter: '" + name + "' is registered twice");
  if (!value.is_leaf()) throw std::invalid_argument("register_parameter: '" + name + "' must be a leaf");
  value.set_name(name);  // a child's parameters get their dotted path when it is registered
  params_.emplace_back(name, value);
  return value;
}

template <class T>
void ModuleT<T>::register_module(const std::string& name, ModuleT& child) {
  if (name.empty() || name.find('.') != std::string::npos)
    throw std::invalid_argument("register_module: '" + name + "' must be non-empty without dots");
  if (&child == this) throw std::invalid_argument("register_module: a module cannot contain itself");
  children_.emplace_back(name, &child);
  for (auto& [path, p] : child.named_parameters()) p.set_name(name + "." + path);  // error messages name it
  child.train(training_);
}

template <class T>
void ModuleT<T>::register_mode_child(ModuleT& child) {
  if (&child == this) throw std::invalid_argument("register_mode_child: a module cannot contain itself");
  mode_children_.push_back(&child);
  child.train(training_);
}

template class ModuleT<float>;
template class ModuleT<double>;

}  // namespace tg
