#pragma once
// Cell: one recurrent time step, the interface every cell (RNN, LSTM, GRU, or a user's own)
// implements so the sequence runner, the stacked layers and the TBPTT helper work with it.
//   B batch, I input size, H hidden size, G gates (RNN 1, GRU 3, LSTM 4)
#include <vector>

#include <tapegrad/layers/module.hpp>

namespace tg {

// A cell's recurrent state: state[0] is always the output h [B, H]; an LSTM adds c [B, H]. Other
// state tensors may have other widths (state_width): an attention decoder carries its context.
using State = std::vector<Tensor>;

// What a cell reads at every step besides its own input: the same tensors at each step of a
// run, e.g. an attention decoder's encoder memory [S, B, D] and its source mask [S, B]. Plain
// cells read none, and refuse a non-empty context.
struct CellContext {
  std::vector<Tensor> tensors;
  std::vector<IdTensor> masks;
  bool empty() const { return tensors.empty() && masks.empty(); }
};
class Cell : public Module {
 public:
  // `name` ("LSTMCell", ...) heads the cell's error messages.
  Cell(std::size_t input_size, std::size_t hidden_size, const char* name = "cell");
  const char* name() const { return name_; }
  std::size_t input_size() const { return input_size_; }
  std::size_t hidden_size() const { return hidden_size_; }
  // How many tensors the state holds (1 for h, 2 for h and c).
  virtual std::size_t state_size() const = 0;
  // The width of state tensor k: [B, state_width(k)]. H for every tensor unless a cell says
  // otherwise; state[0], the output, is always H wide.
  virtual std::size_t state_width(std::size_t k) const;

  // The part of the step that depends on the input only, for a whole block at once:
  // x [N, I] -> [N, P] (one GEMM for T*B rows instead of T small ones).
  virtual Tensor project_input(const Tensor& x) const = 0;
  // One time step from a projected input xp [B, P] and the previous state.
  virtual State step(const Tensor& xp, const State& state) const = 0;
  // The step the sequence runner calls, with the run's context. The extension point for cells
  // that read more than their input at each step: an attention decoder overrides it (and makes
  // step() without a context an error). By default, step() when the context is empty and
  // std::invalid_argument naming the cell otherwise.
  virtual State step_in_context(const Tensor& xp, const State& state, const CellContext& context) const;

  // A single step from a raw input x [B, I]: project_input then step (or step_in_context).
  State forward(const Tensor& x, const State& state) const;
  State forward(const Tensor& x, const State& state, const CellContext& context) const;
  State operator()(const Tensor& x, const State& state) const { return forward(x, state); }
  State operator()(const Tensor& x, const State& state, const CellContext& context) const {
    return forward(x, state, context);
  }
  // Zeros of the right shapes for a batch of B.
  State initial_state(std::size_t batch) const;
  // std::invalid_argument naming the cell unless `state` fits a batch of B.
  void check_state(const State& state, std::size_t batch, const char* who) const;

 protected:
  // std::invalid_argument naming the cell unless x is [B, I].
  void check_input(const Tensor& x) const;

  std::size_t input_size_, hidden_size_;
  const char* name_;
};

}  // namespace tg
