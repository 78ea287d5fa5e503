#include "cells.hpp"

#include <stdexcept>

namespace tgexp {

const std::vector<std::string>& cell_names() {
  static const std::vector<std::string> names = {"rnn", "lstm", "gru"};
  return names;
}

std::unique_ptr<tg::Cell> make_cell(const std::string& name, std::size_t input_size, std::size_t hidden_size) {
  if (name == "rnn") return std::make_unique<tg::RNNCell>(input_size, hidden_size);
  if (name == "lstm") return std::make_unique<tg::LSTMCell>(input_size, hidden_size);
  if (name == "gru") return std::make_unique<tg::GRUCell>(input_size, hidden_size);
  throw std::invalid_argument("unknown cell '" + name + "' (expected rnn, lstm or gru)");
}

void scale_recurrent_weights(tg::Cell& cell, double factor) {
  tg::Tensor w = cell.parameter("weight_hh");  // shares storage with the cell's parameter
  tg::visit_dtype(w.dtype(), [&](auto v) {
    using T = decltype(v);
    T* data = w.mutable_data<T>();
    for (std::size_t i = 0; i < w.numel(); ++i) data[i] = T(double(data[i]) * factor);
  });
}

std::vector<tg::Tensor> all_parameters(const tg::Module& a, const tg::Module& b) {
  std::vector<tg::Tensor> params = a.parameters();
  for (auto& p : b.parameters()) params.push_back(p);
  return params;
}

}  // namespace tgexp
