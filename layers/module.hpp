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
class Module {
 public:
  Module() = default;
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;
  virtual ~Module() = default;

  // Every parameter, own ones first in registration order, then each child's under its prefix.
  NamedTensors named_parameters() const;
  std::vector<Tensor> parameters() const;
  // The parameter called `name` (dotted path); std::out_of_range naming it if there is none.
  Tensor parameter(const std::string& name) const;
  std::size_t parameter_count() const;  // number of scalar weights

  // Converts every parameter (and its gradient) to `dtype` in place: each tensor handle, and
  // so an optimizer built before, keeps referring to the same parameter (Note [converting in
  // place] in tensor_impl.hpp). Modules start as float32; to(kFloat64) before a gradient check.
  // std::logic_error naming the parameter while the graph on the tape uses it (run backward()
  // or clear_tape() first); nothing changes then.
  void to(Dtype dtype);
  // The dtype of the parameters: that of the first one (float32 for a module without any).
  Dtype dtype() const;

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
  void register_module(const std::string& name, Module& child);
  // A child that follows train()/eval() but whose parameters are not collected under it: the
  // parent registers them itself, under its own names (Recurrent flattens its cells' parameters
  // to PyTorch's weight_ih_l0, ...). The child must outlive the parent's use of it.
  void register_mode_child(Module& child);

 private:
  void collect(const std::string& prefix, NamedTensors& out) const;
  const Tensor* first_parameter() const;  // in named_parameters() order; null if none

  std::vector<std::pair<std::string, Tensor>> params_;
  std::vector<std::pair<std::string, Module*>> children_;
  std::vector<Module*> mode_children_;  // train()/eval() only (register_mode_child)
  bool training_ = true;
};

}  // namespace tg
