#pragma once
// Stacked, optionally bidirectional recurrent layers over time-first input [T, B, I]:
// Recurrent runs any cell; RNN, LSTM and GRU are Recurrent with PyTorch's cells and names
// (weight_ih_l0, weight_hh_l0, bias_ih_l0, bias_hh_l0, ..._reverse), so a PyTorch state_dict
// maps onto them name for name.
//   T time, B batch, I input, H hidden, L layers, D directions (1 or 2)
#include <functional>
#include <memory>

#include <tapegrad/layers/cell.hpp>
#include <tapegrad/layers/rnn_cell.hpp>
#include <tapegrad/layers/sequence.hpp>

namespace tg {

struct RecurrentOptions {
  std::size_t num_layers = 1;
  bool bidirectional = false;
  double dropout = 0.0;  // on the outputs of every layer but the last, in train mode only
};

struct RecurrentOutput {
  Tensor output;              // [T, B, D*H]: the last layer's outputs at every step
  std::vector<State> state;   // final state of layer l, direction d at [l*D + d] (PyTorch's order)
};

class Recurrent : public Module {
 public:
  // Makes the cell of one layer and direction; input_size is I for layer 0, D*H above it.
  using CellFactory = std::function<std::unique_ptr<Cell>(std::size_t input_size, std::size_t hidden_size)>;

  Recurrent(std::size_t input_size, std::size_t hidden_size, RecurrentOptions options, CellFactory make_cell);

  // x [T, B, I] with T >= 1 (T = 0 is std::invalid_argument, as in PyTorch; B = 0 gives empty
  // outputs and states); initial: one state per layer and direction ({} = zeros); mask: variable
  // lengths; detach_at: detach every layer's state before that step (TBPTT(k1, k2)).
  RecurrentOutput forward(const Tensor& x, const std::vector<State>& initial = {},
                             const SequenceMask* mask = nullptr, std::size_t detach_at = kNoDetach) const;
  RecurrentOutput operator()(const Tensor& x, const std::vector<State>& initial = {},
                                const SequenceMask* mask = nullptr) const {
    return forward(x, initial, mask);
  }

  std::size_t input_size() const { return input_size_; }
  std::size_t hidden_size() const { return hidden_size_; }
  std::size_t num_layers() const { return options_.num_layers; }
  std::size_t num_directions() const { return options_.bidirectional ? 2 : 1; }
  const RecurrentOptions& options() const { return options_; }
  // The cell of one layer and direction. Cells follow the layer's train()/eval(), and so do
  // the children a cell registers itself (a user cell's Dropout, say).
  const Cell& cell(std::size_t layer, bool reverse = false) const;
  // Zero states for a batch of B, one per layer and direction.
  std::vector<State> initial_state(std::size_t batch) const;

 private:
  std::size_t input_size_, hidden_size_;
  RecurrentOptions options_;
  std::vector<std::unique_ptr<Cell>> cells_;  // [l*D + d]
};

// h (which = 0) or c (which = 1) of every layer and direction stacked as [L*D, B, H] (PyTorch's h_n).
Tensor stack_states(const std::vector<State>& states, std::size_t which = 0);

class RNN : public Recurrent {
 public:
  RNN(std::size_t input_size, std::size_t hidden_size, RecurrentOptions options = {},
       Nonlinearity nonlinearity = Nonlinearity::tanh);
};

class LSTM : public Recurrent {
 public:
  LSTM(std::size_t input_size, std::size_t hidden_size, RecurrentOptions options = {},
        bool forget_bias_one = false);
};

class GRU : public Recurrent {
 public:
  GRU(std::size_t input_size, std::size_t hidden_size, RecurrentOptions options = {});
};

}  // namespace tg
