#pragma once
// Cell: one recurrent time step, the interface every cell (RNN, LSTM, GRU, or a user's own)
// implements so the sequence runner, the stacked layers and the TBPTT helper work with it.
//   B batch, I input size, H hidden size, G gates (RNN 1, GRU 3, LSTM 4)
#include <vector>

#include <tapegrad/layers/module.hpp>

namespace tg {

// A cell's recurrent state: state[0] is always h [B, H] (the output); an LSTM adds c [B, H].
using State = std::vector<Tensor>;
class Cell : public Module {
 public:
  // `name` ("LSTMCell", ...) heads the cell's error messages.
  Cell(std::size_t input_size, std::size_t hidden_size, const char* name = "cell");
  const char* name() const { return name_; }
  std::size_t input_size() const { return input_size_; }
  std::size_t hidden_size() const { return hidden_size_; }
  // How many tensors the state holds (1 for h, 2 for h and c).
  virtual std::size_t state_size() const = 0;

  // The part of the step that depends on the input only, for a whole block at once:
  // x [N, I] -> [N, P] (one GEMM for T*B rows instead of T small ones).
  virtual Tensor project_input(const Tensor& x) const = 0;
  // One time step from a projected input xp [B, P] and the previous state.
  virtual State step(const Tensor& xp, const State& state) const = 0;

  // A single step from a raw input x [B, I]: project_input then step.
  State forward(const Tensor& x, const State& state) const;
  State operator()(const Tensor& x, const State& state) const { return forward(x, state); }
  // Zeros of the right shapes for a batch of B.
  State initial_state(std::size_t batch) const;
  // std::invalid_argument naming the cell unless `state` fits a batch of B.
  void check_state(const State& state, std::size_t batch, const char* who) const;

 protected:
  std::size_t input_size_, hidden_size_;
  const char* name_;
};

}  // namespace tg
