#pragma once
// Stacked, optionally bidirectional recurrent layers over time-first input [T, B, I]:
// Recurrent runs any cell; RNN, LSTM and GRU are Recurrent with PyTorch's cells and names
// (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._reverse), so a PyTorch state_dict
// maps onto them name for name.
//   T time, B batch, I input, H hidden, L layers, D directions (1 or 2)
#include <functional>
#include <memory>

#include <tapegrad/layers/cell.hpp>
#include <tapegrad/layers/recurrent_options.hpp>
#include <tapegrad/layers/sequence.hpp>

namespace tg {

// What a stacked layer returns. Final states are kept in PyTorch's order and addressed by name:
//   out.h(1)                       h of layer 1 (forward direction)    [B, H]
//   out.c(0, tg::Direction::reverse)  c of layer 0's reverse direction (LSTM only)
//   out.h_n(), out.c_n()           all of them stacked as PyTorch's h_n, c_n: [L*D, B, H]
//   layer(next_x, out.states)      carry every state into the next call
class RecurrentOutput {
 public:
  Tensor output;              // [T, B, D*H]: the last layer's outputs at every step
  std::vector<State> states;  // final state of layer l, direction d at [l*D + d] (PyTorch's order)

  RecurrentOutput() = default;
  explicit RecurrentOutput(std::size_t num_directions) : num_directions_(num_directions) {}

  // std::out_of_range naming the layer and direction when there is none.
  const State& state(std::size_t layer, Direction direction = Direction::forward) const;
  const Tensor& h(std::size_t layer, Direction direction = Direction::forward) const;
  // std::out_of_range for a cell without a cell state (RNN, GRU).
  const Tensor& c(std::size_t layer, Direction direction = Direction::forward) const;
  Tensor h_n() const;
  Tensor c_n() const;
  std::size_t num_layers() const { return states.size() / num_directions_; }
  std::size_t num_directions() const { return num_directions_; }

 private:
  std::size_t num_directions_ = 1;
};

class Recurrent : public Module {
 public:
  // Makes the cell of one layer and direction; input_size is I for layer 0, D*H above it.
  using CellFactory = std::function<std::unique_ptr<Cell>(std::size_t input_size, std::size_t hidden_size)>;

  Recurrent(const RecurrentOptions& options, CellFactory make_cell);

  // x [T, B, I] with T >= 1 (T = 0 is std::invalid_argument, as in PyTorch; B = 0 gives empty
  // outputs and states); initial: one state per layer and direction ({} = zeros); mask: the
  // valid steps of a variable-length batch.
  RecurrentOutput forward(const Tensor& x, const std::vector<State>& initial = {}) const;
  RecurrentOutput forward(const Tensor& x, const std::vector<State>& initial, const SequenceMask& mask) const;
  RecurrentOutput forward(const Tensor& x, const SequenceMask& mask) const { return forward(x, {}, mask); }
  RecurrentOutput operator()(const Tensor& x, const std::vector<State>& initial = {}) const {
    return forward(x, initial);
  }
  RecurrentOutput operator()(const Tensor& x, const std::vector<State>& initial, const SequenceMask& mask) const {
    return forward(x, initial, mask);
  }
  RecurrentOutput operator()(const Tensor& x, const SequenceMask& mask) const { return forward(x, {}, mask); }

  std::size_t input_size() const { return options_.input_size(); }
  std::size_t hidden_size() const { return options_.hidden_size(); }
  std::size_t num_layers() const { return options_.num_layers(); }
  std::size_t num_directions() const { return options_.bidirectional() ? 2 : 1; }
  const RecurrentOptions& options() const { return options_; }
  // The cell of one layer and direction. Cells follow the layer's train()/eval(), and so do
  // the children a cell registers itself (a user cell's Dropout, say).
  const Cell& cell(std::size_t layer, Direction direction = Direction::forward) const;
  // Zero states for a batch of B, one per layer and direction.
  std::vector<State> initial_state(std::size_t batch) const;

 private:
  friend class TBPTT;  // runs blocks with a truncation point
  // mask may be null; detach_at: detach every layer's state before that step (TBPTT(k1, k2)).
  RecurrentOutput run(const Tensor& x, const std::vector<State>& initial, const SequenceMask* mask,
                      std::size_t detach_at) const;

  RecurrentOptions options_;
  std::vector<std::unique_ptr<Cell>> cells_;  // [l*D + d]
};

// h (which = 0) or c (which = 1) of every layer and direction stacked as [L*D, B, H] (PyTorch's h_n).
Tensor stack_states(const std::vector<State>& states, std::size_t which = 0);

// torch.nn.RNN, LSTM and GRU: RNN(I, H) is one layer of defaults, RNN(RNNOptions(I, H)...) any.
class RNN : public Recurrent {
 public:
  explicit RNN(const RNNOptions& options);
  RNN(std::size_t input_size, std::size_t hidden_size) : RNN(RNNOptions(input_size, hidden_size)) {}
};

class LSTM : public Recurrent {
 public:
  explicit LSTM(const LSTMOptions& options);
  LSTM(std::size_t input_size, std::size_t hidden_size) : LSTM(LSTMOptions(input_size, hidden_size)) {}
};

class GRU : public Recurrent {
 public:
  explicit GRU(const GRUOptions& options);
  GRU(std::size_t input_size, std::size_t hidden_size) : GRU(GRUOptions(input_size, hidden_size)) {}
};

}  // namespace tg
