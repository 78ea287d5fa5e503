#pragma once
// The three cells every experiment compares, by name, with the library's default (PyTorch) init.
//   I input size, H hidden size
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

namespace tgexp {

// "rnn" (tanh), "lstm", "gru": the order every experiment reports them in.
const std::vector<std::string>& cell_names();

// A tg::RNNCellT, LSTMCellT or GRUCellT from I to H; std::invalid_argument for any other name.
std::unique_ptr<tg::Cell> make_cell(const std::string& name, std::size_t input_size, std::size_t hidden_size);

// Multiplies the cell's recurrent weight W_hh [G*H, H] by `factor` (1 = the default init).
void scale_recurrent_weights(tg::Cell& cell, double factor);

// Every parameter of a cell and a head, in one list for the optimizer.
std::vector<tg::Tensor> all_parameters(const tg::Module& a, const tg::Module& b);

}  // namespace tgexp
