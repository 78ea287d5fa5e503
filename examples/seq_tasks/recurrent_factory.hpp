#pragma once
// The three recurrent layers the experiments compare, by name: "rnn" (tanh), "lstm", "gru".
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace seqtasks {

// A one-layer tg::RNN, tg::LSTM or tg::GRU from input_size to hidden_size; std::invalid_argument
// for any other name.
std::unique_ptr<tg::Recurrent> make_recurrent(const std::string& cell, std::size_t input_size, std::size_t hidden_size);

// "rnn", "lstm", "gru" (the order every experiment reports them in).
const std::vector<std::string>& all_cells();

}  // namespace seqtasks
