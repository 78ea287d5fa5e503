#pragma once
// Module: a named collection of parameters and child modules, with PyTorch's dotted names
// ("rnn.weight_ih_l0", "out.bias"), so a PyTorch state_dict maps onto a tapegrad model name
// for name.
#include <string>
#include <utility>
#include <vector>

#include <tapegrad/autograd/named_tensors.hpp>
#include <tapegrad/autograd/tensor.hpp>

namespace tg {

// Children are registered by reference and must be members of their parent (or otherwise
// outlive it); modules are therefore neither copyable nor movable.
template <class T>
class ModuleT {
 public:
  ModuleT() = default;
  ModuleT(const ModuleT&) = delete;
  ModuleT& operator=(const ModuleT&) = delete;
  virtual ~ModuleT() = default;

  // Every parameter, own ones first in registration order, then each child's under its prefix.
  NamedTensorsT<T> named_parameters() const;
  std::vector<Tensor> parameters() const;
  // The parameter called `name` (dotted path); std::out_of_range naming it if there is none.
  Tensor parameter(const std::string& name) const;
  std::size_t parameter_count() const;  // number of scalar weights

  // Train mode (dropout active) or eval mode; applies to every child, registered with
  // register_module or register_mode_child (Recurrent's cells, a user cell's own Dropout).
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Zeroes the gradient of every parameter; with set_to_none, releases them instead (Tensor's
  // zero_grad), so parameters the next backward does not reach have none.
  void zero_grad(bool set_to_none = false);
  // Freezes (requires_grad off) or unfreezes every parameter whose name starts with `prefix`
  // ("" = all); returns how many it changed. std::out_of_range if nothing matches.
  std::size_t set_requires_grad(const std::string& prefix, bool on);

 protected:
  Tensor register_parameter(const std::string& name, Tensor value);
  void register_module(const std::string& name, ModuleT& child);
  // A child that follows train()/eval() but whose parameters are not collected under it: the
  // parent registers them itself, under its own names (Recurrent flattens its cells' parameters
  // to PyTorch's weight_ih_l0, ...). The child must outlive the parent's use of it.
  void register_mode_child(ModuleT& child);

 private:
  void collect(const std::string& prefix, NamedTensorsT<T>& out) const;

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, ModuleT*>> children_;
  std::vector<ModuleT*> mode_children_;  // train()/eval() only (register_mode_child)
  bool training_ = true;
};

using Module = ModuleT<float>;
using ModuleD = ModuleT<double>;

extern template class ModuleT<float>;
extern template class ModuleT<double>;

}  // namespace tg
