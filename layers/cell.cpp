#include <tapegrad/layers/cell.hpp>

#include <stdexcept>

namespace tg {

Cell::Cell(std::size_t input_size, std::size_t hidden_size, const char* name)
    : input_size_(input_size), hidden_size_(hidden_size), name_(name) {
  if (input_size == 0 || hidden_size == 0)
    throw std::invalid_argument(std::string(name) + ": input_size and hidden_size must be positive, got " +
                                std::to_string(input_size) + " and " + std::to_string(hidden_size));
}

std::size_t Cell::state_width(std::size_t) const { return hidden_size_; }

State Cell::step_in_context(const Tensor& xp, const State& state, const CellContext& context) const {
  if (!context.empty())
    throw std::invalid_argument(std::string(name_) + ": this cell reads no context, got " +
                                std::to_string(context.tensors.size()) + " tensors and " +
                                std::to_string(context.masks.size()) + " masks");
  return step(xp, state);
}

State Cell::forward(const Tensor& x, const State& state) const { return forward(x, state, CellContext{}); }

void Cell::check_input(const Tensor& x) const {
  if (x.dim() != 2 || x.shape()[1] != input_size_)
    throw std::invalid_argument(std::string(name_) + ": input must be [B, " + std::to_string(input_size_) +
                                "], got " + to_string(x.shape()));
}

State Cell::forward(const Tensor& x, const State& state, const CellContext& context) const {
  check_input(x);
  check_state(state, x.shape()[0], name_);
  return step_in_context(project_input(x), state, context);
}

State Cell::initial_state(std::size_t batch) const {
  State state;
  for (std::size_t k = 0; k < state_size(); ++k) state.push_back(Tensor::zeros({batch, state_width(k)}, dtype()));
  return state;
}

void Cell::check_state(const State& state, std::size_t batch, const char* who) const {
  if (state.size() != state_size())
    throw std::invalid_argument(std::string(who) + ": the state holds " + std::to_string(state.size()) +
                                " tensors, " + name_ + " needs " + std::to_string(state_size()));
  for (std::size_t k = 0; k < state.size(); ++k) {
    const Tensor& s = state[k];
    if (!s.defined() || s.shape() != Shape{batch, state_width(k)})
      throw std::invalid_argument(std::string(who) + ": " + name_ + " state tensor " + std::to_string(k) +
                                  " must be [B, " + (state_width(k) == hidden_size_ ? "H" : "W") + "] = [" +
                                  std::to_string(batch) + ", " + std::to_string(state_width(k)) +
                                  "], got " + (s.defined() ? to_string(s.shape()) : "undefined"));
  }
}

}  // namespace tg
