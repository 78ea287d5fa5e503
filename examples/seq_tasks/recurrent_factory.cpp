#include "recurrent_factory.hpp"

#include <stdexcept>

namespace seqtasks {

std::unique_ptr<tg::Recurrent> make_recurrent(const std::string& cell, std::size_t input_size, std::size_t hidden_size) {
  if (cell == "rnn") return std::make_unique<tg::RNN>(input_size, hidden_size);
  if (cell == "lstm") return std::make_unique<tg::LSTM>(input_size, hidden_size);
  if (cell == "gru") return std::make_unique<tg::GRU>(input_size, hidden_size);
  throw std::invalid_argument("unknown cell '" + cell + "' (expected rnn, lstm or gru)");
}

const std::vector<std::string>& all_cells() {
  static const std::vector<std::string> cells{"rnn", "lstm", "gru"};
  return cells;
}

}  // namespace seqtasks
