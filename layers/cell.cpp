#include <tapegrad/layers/cell.hpp>

#include <stdexcept>

namespace tg {

Cell::Cell(std::size_t input_size, std::size_t hidden_size, const char* name)
    : input_size_(input_size), hidden_size_(hidden_size), name_(name) {
  if (input_size == 0 || hidden_size == 0)
    throw std::invalid_argument(std::string(name) + ": input_size and hidden_size must be positive, got " +
                                std::to_string(input_size) + " and " + std::to_string(hidden_size));
}

State Cell::forward(const Tensor& x, const State& state) const {
  if (x.dim() != 2 || x.shape()[1] != input_size_)
    throw std::invalid_argument(std::string(name_) + ": input must be [B, " + std::to_string(input_size_) +
                                "], got " + to_string(x.shape()));
  check_state(state, x.shape()[0], name_);
  return step(project_input(x), state);
}

State Cell::initial_state(std::size_t batch) const {
  State state;
  for (std::size_t k = 0; k < state_size(); ++k) state.push_back(Tensor::zeros({batch, hidden_size_}, dtype()));
  return state;
}

void Cell::check_state(const State& state, std::size_t batch, const char* who) const {
  if (state.size() != state_size())
    throw std::invalid_argument(std::string(who) + ": the state holds " + std::to_string(state.size()) +
                                " tensors, " + name_ + " needs " + std::to_string(state_size()));
  for (const auto& s : state)
    if (!s.defined() || s.shape() != Shape{batch, hidden_size_})
      throw std::invalid_argument(std::string(who) + ": each " + name_ + " state tensor must be [B, H] = [" +
                                  std::to_string(batch) + ", " + std::to_string(hidden_size_) +
                                  "], got " + (s.defined() ? to_string(s.shape()) : "undefined"));
}

}  // namespace tg
