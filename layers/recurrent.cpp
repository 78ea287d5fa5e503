#include <tapegrad/layers/recurrent.hpp>

#include <algorithm>
#include <stdexcept>

#include <tapegrad/autograd/ops.hpp>
#include <tapegrad/layers/gru_cell.hpp>
#include <tapegrad/layers/lstm_cell.hpp>

namespace tg {

Recurrent::Recurrent(const RecurrentOptions& options, CellFactory make_cell) : options_(options) {
  if (options.num_layers() == 0) throw std::invalid_argument("Recurrent: num_layers must be at least 1");
  if (!(options.dropout() >= 0.0 && options.dropout() <= 1.0))
    throw std::invalid_argument("Recurrent: dropout must be in [0, 1], got " + std::to_string(options.dropout()));
  const std::size_t D = num_directions(), input_size = options.input_size(), hidden_size = options.hidden_size();
  for (std::size_t l = 0; l < options.num_layers(); ++l)
    for (std::size_t d = 0; d < D; ++d) {
      auto cell = make_cell(l == 0 ? input_size : D * hidden_size, hidden_size);
      if (!cell || cell->hidden_size() != hidden_size)
        throw std::invalid_argument("Recurrent: the cell factory must return a cell of hidden size " +
                                    std::to_string(hidden_size));
      // PyTorch's flat names: the cell's weight_ih becomes weight_ih_l0 (weight_ih_l0_reverse).
      const std::string suffix = "_l" + std::to_string(l) + (d == 1 ? "_reverse" : "");
      for (auto& [name, p] : cell->named_parameters()) {
        std::string flat = name;
        std::replace(flat.begin(), flat.end(), '.', '_');
        register_parameter(flat + suffix, p);
      }
      register_mode_child(*cell);  // train()/eval() reach the cell (and its own children)
      cells_.push_back(std::move(cell));
    }
}

namespace {

// Index of (layer, direction) in PyTorch's order, or std::out_of_range naming both for `who`.
std::size_t state_index(const char* who, std::size_t layer, Direction direction, std::size_t num_layers,
                        std::size_t num_directions) {
  const bool reverse = direction == Direction::reverse;
  if (layer >= num_layers || (reverse && num_directions == 1))
    throw std::out_of_range(std::string(who) + ": no layer " + std::to_string(layer) + (reverse ? " reverse" : "") +
                            " in a " + (num_directions == 2 ? "bidirectional " : "") + "stack of " +
                            std::to_string(num_layers) + " layer" + (num_layers == 1 ? "" : "s"));
  return layer * num_directions + (reverse ? 1 : 0);
}

}  // namespace

const Cell& Recurrent::cell(std::size_t layer, Direction direction) const {
  return *cells_[state_index("Recurrent::cell", layer, direction, num_layers(), num_directions())];
}

const State& RecurrentOutput::state(std::size_t layer, Direction direction) const {
  return states[state_index("RecurrentOutput::state", layer, direction, num_layers(), num_directions_)];
}

const Tensor& RecurrentOutput::h(std::size_t layer, Direction direction) const {
  return state(layer, direction)[0];
}

const Tensor& RecurrentOutput::c(std::size_t layer, Direction direction) const {
  const State& s = state(layer, direction);
  if (s.size() < 2) throw std::out_of_range("RecurrentOutput::c: the cell has no cell state c (only an LSTM's has)");
  return s[1];
}

Tensor RecurrentOutput::h_n() const { return stack_states(states, 0); }

Tensor RecurrentOutput::c_n() const {
  if (!states.empty() && states[0].size() < 2)
    throw std::out_of_range("RecurrentOutput::c_n: the cell has no cell state c (only an LSTM's has)");
  return stack_states(states, 1);
}

std::vector<State> Recurrent::initial_state(std::size_t batch) const {
  std::vector<State> s;
  for (const auto& c : cells_) s.push_back(c->initial_state(batch));
  return s;
}

RecurrentOutput Recurrent::forward(const Tensor& x, const std::vector<State>& initial) const {
  return run(x, initial, nullptr, kNoDetach);
}

RecurrentOutput Recurrent::forward(const Tensor& x, const std::vector<State>& initial,
                                   const SequenceMask& mask) const {
  return run(x, initial, &mask, kNoDetach);
}

RecurrentOutput Recurrent::run(const Tensor& x, const std::vector<State>& initial, const SequenceMask* mask,
                               std::size_t detach_at) const {
  if (x.dim() != 3 || x.shape()[2] != input_size())
    throw std::invalid_argument("Recurrent: input must be time-first [T, B, I] with I = " +
                                std::to_string(input_size()) + ", got " + to_string(x.shape()));
  // As PyTorch's RNNs: a sequence of no steps is an error; a batch of none (B = 0) runs and
  // gives empty outputs and states.
  if (x.shape()[0] == 0)
    throw std::invalid_argument("Recurrent: the sequence has no steps (T = 0) in input " + to_string(x.shape()) +
                                "; T must be at least 1");
  const std::size_t T_ = x.shape()[0], B = x.shape()[1], D = num_directions();
  if (!initial.empty() && initial.size() != cells_.size())
    throw std::invalid_argument("Recurrent: the initial state has " + std::to_string(initial.size()) +
                                " entries, expected num_layers * directions = " + std::to_string(cells_.size()));
  RecurrentOutput out(D);
  Tensor layer_in = reshape(x, {T_ * B, input_size()});  // [T*B, I]
  for (std::size_t l = 0; l < num_layers(); ++l) {
    std::vector<Tensor> dir_outputs;
    for (std::size_t d = 0; d < D; ++d) {
      const Cell& c = *cells_[l * D + d];
      State s0 = initial.empty() ? c.initial_state(B) : initial[l * D + d];
      const auto options = RunCellOptions().direction(d == 1 ? Direction::reverse : Direction::forward)
                               .detach_at(detach_at);
      SequenceRun run = mask ? run_cell(c, layer_in, T_, std::move(s0), *mask, options)
                             : run_cell(c, layer_in, T_, std::move(s0), options);
      dir_outputs.push_back(run.outputs);  // [T*B, H]
      out.states.push_back(std::move(run.state));
    }
    layer_in = D == 1 ? dir_outputs[0] : concat(dir_outputs, 1);  // [T*B, D*H]
    if (l + 1 < num_layers() && options_.dropout() > 0.0)
      layer_in = dropout(layer_in, options_.dropout(), is_training());
  }
  out.output = reshape(layer_in, {T_, B, D * hidden_size()});
  return out;
}

Tensor stack_states(const std::vector<State>& states, std::size_t which) {
  if (states.empty()) throw std::invalid_argument("stack_states: no states");
  std::vector<Tensor> parts;
  for (const auto& s : states) {
    if (which >= s.size())
      throw std::out_of_range("stack_states: the state has no tensor " + std::to_string(which));
    parts.push_back(s[which]);
  }
  const Shape bh = parts[0].shape();  // [B, H]
  return reshape(concat(parts, 0), {parts.size(), bh[0], bh[1]});
}

RNN::RNN(const RNNOptions& options)
    : Recurrent(options, [act = options.nonlinearity()](std::size_t in, std::size_t h) {
        return std::make_unique<RNNCell>(in, h, act);
      }) {}

LSTM::LSTM(const LSTMOptions& options)
    : Recurrent(options, [forget_bias_one = options.forget_bias_one()](std::size_t in, std::size_t h) {
        return std::make_unique<LSTMCell>(in, h, forget_bias_one);
      }) {}

GRU::GRU(const GRUOptions& options)
    : Recurrent(options, [](std::size_t in, std::size_t h) { return std::make_unique<GRUCell>(in, h); }) {}

}  // namespace tg
