#pragma once
// Options of the stacked recurrent layers, libtorch's way: the sizes in the constructor, the
// rest by named setters that chain,
//   tg::LSTM lstm(tg::LSTMOptions(I, H).num_layers(2).bidirectional(true).dropout(0.1));
// and a getter of the same name for each. RecurrentOptions holds what every layer shares (and
// is what tg::Recurrent takes with a cell factory); RNNOptions, LSTMOptions and GRUOptions add
// their cell's own choices. Values are checked when the layer is built.
#include <cstddef>

#include <tapegrad/layers/rnn_cell.hpp>

namespace tg {

// Which way a direction of a layer walks the sequence.
enum class Direction { forward, reverse };

namespace detail {

// The shared fields; each setter returns the derived options (CRTP), so
// LSTMOptions(I, H).num_layers(2).forget_bias_one(true) keeps its type along the chain.
template <class Options>
class RecurrentOptionsBase {
 public:
  RecurrentOptionsBase(std::size_t input_size, std::size_t hidden_size)
      : input_size_(input_size), hidden_size_(hidden_size) {}

  // Stacked layers (>= 1); layer l > 0 reads the outputs of layer l - 1.
  Options& num_layers(std::size_t value) { num_layers_ = value; return self(); }
  // Adds a second direction per layer that walks t = T-1 .. 0; outputs are [fwd, rev] on the last axis.
  Options& bidirectional(bool value) { bidirectional_ = value; return self(); }
  // Dropout on the outputs of every layer but the last, in train mode only; in [0, 1].
  Options& dropout(double value) { dropout_ = value; return self(); }

  std::size_t input_size() const { return input_size_; }
  std::size_t hidden_size() const { return hidden_size_; }
  std::size_t num_layers() const { return num_layers_; }
  bool bidirectional() const { return bidirectional_; }
  double dropout() const { return dropout_; }

 private:
  Options& self() { return static_cast<Options&>(*this); }

  std::size_t input_size_, hidden_size_;
  std::size_t num_layers_ = 1;
  bool bidirectional_ = false;
  double dropout_ = 0.0;
};

}  // namespace detail

class RecurrentOptions : public detail::RecurrentOptionsBase<RecurrentOptions> {
 public:
  using RecurrentOptionsBase::RecurrentOptionsBase;
  // The shared part of a cell-specific options (an LSTM hands its LSTMOptions to Recurrent).
  template <class Other>
  RecurrentOptions(const detail::RecurrentOptionsBase<Other>& other)
      : RecurrentOptionsBase(other.input_size(), other.hidden_size()) {
    num_layers(other.num_layers()).bidirectional(other.bidirectional()).dropout(other.dropout());
  }
};

class RNNOptions : public detail::RecurrentOptionsBase<RNNOptions> {
 public:
  using RecurrentOptionsBase::RecurrentOptionsBase;
  // tanh (the default) or relu, as torch.nn.RNN's nonlinearity.
  RNNOptions& nonlinearity(Nonlinearity value) { nonlinearity_ = value; return *this; }
  Nonlinearity nonlinearity() const { return nonlinearity_; }

 private:
  Nonlinearity nonlinearity_ = Nonlinearity::tanh;
};

class LSTMOptions : public detail::RecurrentOptionsBase<LSTMOptions> {
 public:
  using RecurrentOptionsBase::RecurrentOptionsBase;
  // At init, b_ih's forget slice is 1 and b_hh's is 0 (Jozefowicz et al. 2015) instead of uniform.
  LSTMOptions& forget_bias_one(bool value) { forget_bias_one_ = value; return *this; }
  bool forget_bias_one() const { return forget_bias_one_; }

 private:
  bool forget_bias_one_ = false;
};

class GRUOptions : public detail::RecurrentOptionsBase<GRUOptions> {
 public:
  using RecurrentOptionsBase::RecurrentOptionsBase;
};

}  // namespace tg
