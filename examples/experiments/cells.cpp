#include "cells.hpp"

#include <stdexcept>

namespace tgexp {

const std::vector<std::string>& cell_names() {
  static const std::vector<std::string> names = {"rnn", "lstm", "gru"};
  return names;
}

template <class T>
std::unique_ptr<tg::CellT<T>> make_cell(const std::string& name, std::size_t input_size, std::size_t hidden_size) {
  if (name == "rnn") return std::make_unique<tg::RNNCellT<T>>(input_size, hidden_size);
  if (name == "lstm") return std::make_unique<tg::LSTMCellT<T>>(input_size, hidden_size);
  if (name == "gru") return std::make_unique<tg::GRUCellT<T>>(input_size, hidden_size);
  throw std::invalid_argument("unknown cell '" + name + "' (expected rnn, lstm or gru)");
}

template <class T>
void scale_recurrent_weights(tg::CellT<T>& cell, double factor) {
  tg::Tensor w = cell.parameter("weight_hh");  // shares storage with the cell's parameter
  T* data = w.mutable_data<T>();
  for (std::size_t i = 0; i < w.numel(); ++i) data[i] = T(double(data[i]) * factor);
}

template <class T>
std::vector<tg::Tensor> all_parameters(const tg::ModuleT<T>& a, const tg::ModuleT<T>& b) {
  std::vector<tg::Tensor> params = a.parameters();
  for (auto& p : b.parameters()) params.push_back(p);
  return params;
}

#define TGEXP_INSTANTIATE(T)                                                                                  \
  template std::unique_ptr<tg::CellT<T>> make_cell<T>(const std::string&, std::size_t, std::size_t);           \
  template void scale_recurrent_weights<T>(tg::CellT<T>&, double);                                            \
  template std::vector<tg::Tensor> all_parameters<T>(const tg::ModuleT<T>&, const tg::ModuleT<T>&);
TGEXP_INSTANTIATE(float)
TGEXP_INSTANTIATE(double)

}  // namespace tgexp
