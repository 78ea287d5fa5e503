// Bad input to the public API, table-driven: one or more malformed calls per public function and
// argument class. Each must throw the exception type DESIGN §2 gives that class, with the
// function's name in the message, must record nothing on the tape, and must leave the tape
// usable (a fresh graph afterwards gets the right gradient).
#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <set>

#include "temp_files.hpp"
#include "test_helpers.hpp"

namespace {

using tg::Tensor;


enum class Expect { invalid_argument, out_of_range, logic_error, non_finite, checkpoint_error };

const char* expect_name(Expect e) {
  switch (e) {
    case Expect::invalid_argument: return "std::invalid_argument";
    case Expect::out_of_range: return "std::out_of_range";
    case Expect::logic_error: return "std::logic_error";
    case Expect::non_finite: return "tg::NonFiniteError";
    case Expect::checkpoint_error: return "tg::CheckpointError";
  }
  return "?";
}

struct BadCall {
  const char* function;   // the public function or class under test
  const char* arg_class;  // what is malformed: shape, axis, id, probability, size, state, ...
  Expect expect;
  const char* named;      // must appear in the message (the op or class name)
  std::function<void()> call;
};

// A [rows, cols] float parameter with values in [-1, 1).
Tensor P(std::size_t rows, std::size_t cols) { return Tensor::param(tg::uniform<float>({rows, cols}, -1.f, 1.f)); }
Tensor P1(std::size_t n) { return Tensor::param(tg::uniform<float>({n}, -1.f, 1.f)); }

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

std::vector<BadCall> autograd_calls() {
  using namespace tg;
  auto x23 = P(2, 3), x34 = P(3, 4), x32 = P(3, 2), x3 = P1(3), x4 = P1(4);
  std::vector<BadCall> t = {
      // --- tensors and the tape
      {"item", "shape", Expect::invalid_argument, "item", [=] { x23.item(); }},
      {"backward", "shape: non-scalar output without a seed", Expect::logic_error, "backward",
       [=] { tanh(x23).backward(); }},
      {"backward", "shape: seed of the wrong shape", Expect::invalid_argument, "backward",
       [=] { tanh(x23).backward(Tensor::constant(xt::xarray<float>::from_shape({3, 2}))); }},
      {"backward", "misuse: twice without retain_graph", Expect::logic_error, "backward",
       [=] {
         auto y = sum(tanh(x23));
         y.backward();
         y.backward();
       }},
      {"backward", "misuse: a constant output", Expect::logic_error, "backward",
       [] { Tensor::constant(xt::xarray<float>{1.f}).backward(); }},
      {"grad", "misuse: non-leaf without retain_grad", Expect::logic_error, "grad",
       [=] {
         auto h = tanh(x23);
         sum(h).backward();
         h.grad();
       }},
      {"grad", "misuse: a constant", Expect::logic_error, "grad",
       [] { Tensor::constant(xt::xarray<float>{1.f}).grad(); }},
      {"retain_grad", "misuse: a constant", Expect::logic_error, "retain_grad",
       [] { Tensor::constant(xt::xarray<float>{1.f}).retain_grad(); }},
      {"set_requires_grad", "misuse: a non-leaf", Expect::logic_error, "set_requires_grad",
       [=] { tanh(x23).set_requires_grad(false); }},
      {"grad_data", "misuse: a non-leaf", Expect::logic_error, "grad_data", [=] { tanh(x23).grad_data<float>(); }},
      // --- elementwise
      {"add", "shape: no broadcast", Expect::invalid_argument, "add", [=] { add(x23, x32); }},
      {"sub", "shape: no broadcast", Expect::invalid_argument, "sub", [=] { sub(x23, x4); }},
      {"mul", "shape: no broadcast", Expect::invalid_argument, "mul", [=] { mul(x34, x23); }},
      {"div", "shape: no broadcast", Expect::invalid_argument, "div", [=] { div(x3, x4); }},
      {"operator+", "shape: no broadcast", Expect::invalid_argument, "add", [=] { (void)(x23 + x32); }},
      {"clamp", "range: low > high", Expect::invalid_argument, "clamp", [=] { clamp(x23, 1.f, -1.f); }},
      {"clamp", "range: NaN bound", Expect::invalid_argument, "clamp", [=] { clamp(x23, float(kNaN), 1.f); }},
      {"maximum", "shape: no broadcast", Expect::invalid_argument, "maximum", [=] { maximum(x23, x32); }},
      {"minimum", "shape: no broadcast", Expect::invalid_argument, "minimum", [=] { minimum(x23, x4); }},
      {"softplus", "range: beta 0", Expect::invalid_argument, "softplus", [=] { softplus(x23, 0.0); }},
      {"softplus", "range: NaN threshold", Expect::invalid_argument, "softplus", [=] { softplus(x23, 1.0, kNaN); }},
      {"leaky_relu", "range: infinite slope", Expect::invalid_argument, "leaky_relu", [=] { leaky_relu(x23, kInf); }},
      {"elu", "range: NaN alpha", Expect::invalid_argument, "elu", [=] { elu(x23, kNaN); }},
      // --- reductions
      {"sum", "axis: too large", Expect::invalid_argument, "sum", [=] { sum(x23, 2); }},
      {"sum", "axis: too negative", Expect::invalid_argument, "sum", [=] { sum(x23, -3); }},
      {"mean", "axis: too large", Expect::invalid_argument, "mean", [=] { mean(x23, 5); }},
      // (a mean over no elements is NaN, as in PyTorch: test_hostile_api.cpp)
      {"mean", "axis: too negative", Expect::invalid_argument, "mean", [=] { mean(x23, -3); }},
      {"mean", "axis: too large for an empty tensor", Expect::invalid_argument, "mean",
       [] { mean(Tensor::zeros({0, 3}, tg::kFloat32, true), 2); }},
      {"logsumexp", "axis: too large", Expect::invalid_argument, "logsumexp", [=] { logsumexp(x23, 2); }},
      {"cumsum", "axis: too negative", Expect::invalid_argument, "cumsum", [=] { cumsum(x23, -3); }},
      {"max", "size: an axis of size 0", Expect::invalid_argument, "max", [] { max(Tensor::zeros({0, 3}, tg::kFloat32, true), 0); }},
      {"max", "axis: too large", Expect::invalid_argument, "max", [=] { max(x23, 2); }},
      {"min", "axis: too negative", Expect::invalid_argument, "min", [=] { min(x23, -3); }},
      {"amax", "size: an axis of size 0", Expect::invalid_argument, "amax", [] { amax(Tensor::zeros({2, 0}, tg::kFloat32, true), 1); }},
      {"amin", "axis: too large", Expect::invalid_argument, "amin", [=] { amin(x23, 5); }},
      {"argmax", "size: an empty tensor", Expect::invalid_argument, "argmax", [] { argmax(Tensor::zeros({0}, tg::kFloat32)); }},
      {"argmin", "axis: too large", Expect::invalid_argument, "argmin", [=] { argmin(x23, 2); }},
      // --- linear algebra
      {"matmul", "shape: inner sizes differ", Expect::invalid_argument, "matmul", [=] { matmul(x23, x23); }},
      {"matmul", "shape: vector against a matrix of another K", Expect::invalid_argument, "matmul", [=] { matmul(x3, x23); }},
      {"matmul", "shape: a 0-D operand", Expect::invalid_argument, "matmul",
       [=] { matmul(Tensor::scalar(1.f, tg::kFloat32, true), x34); }},
      {"matmul", "shape: batch dims do not broadcast", Expect::invalid_argument, "matmul",
       [=] { matmul(reshape(P(2, 6), {2, 2, 3}), reshape(P(3, 12), {3, 3, 4})); }},
      {"transpose", "shape: not 2-D", Expect::invalid_argument, "transpose", [=] { transpose(x3); }},
      {"linear", "shape: x against weight", Expect::invalid_argument, "linear", [=] { linear(x34, x23); }},
      {"linear", "shape: weight not 2-D", Expect::invalid_argument, "linear", [=] { linear(x23, x3); }},
      {"linear", "shape: bias length", Expect::invalid_argument, "linear", [=] { linear(x23, P(4, 3), x3); }},
      {"linear", "shape: [O, 1] bias", Expect::invalid_argument, "linear", [=] { linear(x23, P(4, 3), P(4, 1)); }},
      {"linear", "shape: residual", Expect::invalid_argument, "linear",
       [=] { linear(x23, P(4, 3), x4, x23); }},
      // --- shape ops
      {"reshape", "size: element count differs", Expect::invalid_argument, "reshape", [=] { reshape(x23, {4, 2}); }},
      {"concat", "size: no tensors", Expect::invalid_argument, "concat", [] { concat(std::vector<Tensor>{}, 0); }},
      {"concat", "shape: other axes differ", Expect::invalid_argument, "concat", [=] { concat(std::vector<Tensor>{x23, x34}, 0); }},
      {"concat", "axis: too large", Expect::invalid_argument, "concat", [=] { concat(std::vector<Tensor>{x23, x23}, 2); }},
      {"concat", "shape: ranks differ", Expect::invalid_argument, "concat", [=] { concat(std::vector<Tensor>{x23, x3}, 0); }},
      {"slice", "range: past the end", Expect::out_of_range, "slice", [=] { slice(x23, 1, 2, 2); }},
      {"slice", "axis: too large", Expect::invalid_argument, "slice", [=] { slice(x23, 2, 0, 1); }},
      {"split", "size: sizes do not add up", Expect::invalid_argument, "split",
       [=] { split(x23, {1, 1}, 1); }},
      {"split", "axis: too negative", Expect::invalid_argument, "split", [=] { split(x23, {1, 2}, -3); }},
      {"chunk", "size: not divisible", Expect::invalid_argument, "chunk", [=] { chunk(x23, 2, 1); }},
      {"chunk", "size: zero chunks", Expect::invalid_argument, "chunk", [=] { chunk(x23, 0, 1); }},
      {"unsqueeze", "axis: too large", Expect::invalid_argument, "unsqueeze", [=] { unsqueeze(x23, 3); }},
      {"squeeze", "axis: too negative", Expect::invalid_argument, "squeeze", [=] { squeeze(x23, -3); }},
      {"flatten", "axis: start after end", Expect::invalid_argument, "flatten", [=] { flatten(x23, 1, 0); }},
      {"flatten", "axis: too large", Expect::invalid_argument, "flatten", [=] { flatten(x23, 0, 2); }},
      {"stack", "size: no tensors", Expect::invalid_argument, "stack", [] { stack(std::vector<Tensor>{}, 0); }},
      {"stack", "shape: shapes differ", Expect::invalid_argument, "stack", [=] { stack(std::vector<Tensor>{x23, x32}, 0); }},
      {"stack", "axis: too large", Expect::invalid_argument, "stack", [=] { stack(std::vector<Tensor>{x23, x23}, 3); }},
      // --- layout ops
      {"permute", "axis: not a permutation", Expect::invalid_argument, "permute", [=] { permute(x23, {0, 0}); }},
      {"permute", "axis: too few axes", Expect::invalid_argument, "permute", [=] { permute(x23, {1}); }},
      {"permute", "axis: out of range", Expect::invalid_argument, "permute", [=] { permute(x23, {0, 2}); }},
      {"transpose", "axis: too large", Expect::invalid_argument, "transpose", [=] { transpose(x23, 0, 2); }},
      {"expand", "shape: a size that is not 1 differs", Expect::invalid_argument, "expand", [=] { expand(x23, {3, 3}); }},
      {"expand", "shape: fewer dims than x", Expect::invalid_argument, "expand", [=] { expand(x23, {3}); }},
      {"expand", "size: the result overflows", Expect::invalid_argument, "expand",
       [=] { expand(P(1, 1), {std::size_t(1) << 40, std::size_t(1) << 40}); }},
      // --- indexing and comparisons
      {"eq", "shape: no broadcast", Expect::invalid_argument, "eq", [=] { eq(x23, x32); }},
      {"lt", "shape: no broadcast", Expect::invalid_argument, "lt", [=] { lt(x23, x4); }},
      {"where", "shape: condition does not broadcast", Expect::invalid_argument, "where",
       [=] { where(IdTensor{1, 0, 1, 1}, x23, x23); }},
      {"where", "shape: branches do not broadcast", Expect::invalid_argument, "where", [=] { where(IdTensor{1}, x23, x32); }},
      {"masked_fill", "shape: mask larger than x", Expect::invalid_argument, "masked_fill",
       [=] { masked_fill(x3, xt::xarray<std::int64_t>{{1, 0, 1}, {0, 0, 0}}, 0.0); }},
      {"gather", "id: index too large", Expect::out_of_range, "gather",
       [=] { gather(x23, 1, tgtest::ids({1, 1}, {3})); }},
      {"gather", "id: negative index", Expect::out_of_range, "gather", [=] { gather(x23, 0, tgtest::ids({1, 1}, {-1})); }},
      {"gather", "shape: index rank differs", Expect::invalid_argument, "gather", [=] { gather(x23, 0, IdTensor{0}); }},
      {"gather", "axis: too large", Expect::invalid_argument, "gather", [=] { gather(x23, 2, tgtest::ids({1, 1}, {0})); }},
      {"index_select", "id: index too large", Expect::out_of_range, "index_select", [=] { index_select(x23, 0, IdTensor{2}); }},
      {"index_select", "shape: index not 1-D", Expect::invalid_argument, "index_select",
       [=] { index_select(x23, 0, tgtest::ids({1, 1}, {0})); }},
      {"index_select", "axis: too negative", Expect::invalid_argument, "index_select", [=] { index_select(x23, -3, IdTensor{0}); }},
      // --- nn ops
      {"softmax", "axis: too large", Expect::invalid_argument, "softmax", [=] { softmax(x23, 2); }},
      {"log_softmax", "axis: too negative", Expect::invalid_argument, "log_softmax", [=] { log_softmax(x23, -3); }},
      {"embedding", "shape: weight not 2-D", Expect::invalid_argument, "embedding",
       [=] { embedding(x3, IdTensor{0, 1}); }},
      {"embedding", "id: too large", Expect::out_of_range, "embedding", [=] { embedding(x23, IdTensor{0, 2}); }},
      {"embedding", "id: negative", Expect::out_of_range, "embedding", [=] { embedding(x23, IdTensor{-1}); }},
      {"cross_entropy", "shape: targets against logits", Expect::invalid_argument, "cross_entropy",
       [=] { cross_entropy(x23, IdTensor{0, 1, 2}); }},
      {"cross_entropy", "shape: scalar logits", Expect::invalid_argument, "cross_entropy",
       [] { cross_entropy(Tensor::scalar(1.f, tg::kFloat32, true), IdTensor{0}); }},
      {"cross_entropy", "id: target too large", Expect::out_of_range, "cross_entropy",
       [=] { cross_entropy(x23, IdTensor{0, 3}); }},
      {"cross_entropy", "id: negative target", Expect::out_of_range, "cross_entropy",
       [=] { cross_entropy(x23, IdTensor{-1, 0}); }},
      {"cross_entropy", "shape: mask against targets", Expect::invalid_argument, "cross_entropy",
       [=] { cross_entropy(x23, IdTensor{0, 1}, IdTensor{1, 1, 1}); }},
      {"cross_entropy", "mask: entry not 0 or 1", Expect::invalid_argument, "cross_entropy",
       [=] { cross_entropy(x23, IdTensor{0, 1}, IdTensor{1, 2}); }},
      {"cross_entropy", "mask: selects nothing", Expect::invalid_argument, "cross_entropy",
       [=] { cross_entropy(x23, IdTensor{0, 1}, IdTensor{0, 0}); }},
      {"mse", "shape: prediction against target", Expect::invalid_argument, "mse", [=] { mse(x23, x32); }},
      {"mse", "size: empty", Expect::invalid_argument, "mse",
       [] { mse(Tensor::zeros({0}, tg::kFloat32, true), Tensor::zeros({0})); }},
      {"dropout", "probability: above 1", Expect::invalid_argument, "dropout", [=] { dropout(x23, 1.5, true); }},
      {"dropout", "probability: negative", Expect::invalid_argument, "dropout", [=] { dropout(x23, -0.1, true); }},
      {"dropout", "probability: NaN", Expect::invalid_argument, "dropout", [=] { dropout(x23, kNaN, true); }},
      {"layer_norm", "shape: gamma length", Expect::invalid_argument, "layer_norm",
       [=] { layer_norm(x23, x4, x3); }},
      {"layer_norm", "range: eps not positive", Expect::invalid_argument, "layer_norm",
       [=] { layer_norm(x23, x3, x3, 0.0); }},
      {"layer_norm", "shape: scalar input", Expect::invalid_argument, "layer_norm",
       [=] { layer_norm(Tensor::scalar(1.f, tg::kFloat32, true), x3, x3); }},
      // --- gradcheck, random, threads
      {"gradcheck", "range: eps not positive", Expect::invalid_argument, "gradcheck",
       [] { gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {tgtest::param({2})}, 0.0); }},
      {"gradcheck", "misuse: a non-leaf input", Expect::invalid_argument, "gradcheck",
       [] {
         auto a = tgtest::param({2});
         gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {tanh(a)});
       }},
      {"gradcheck", "misuse: f returns an undefined tensor", Expect::logic_error, "gradcheck",
       [] { gradcheck([](const std::vector<Tensor>&) { return tg::Tensor(); }, {tgtest::param({2})}); }},
      {"randint", "size: empty range", Expect::invalid_argument, "randint", [] { randint(0); }},
      {"uniform", "range: low > high", Expect::invalid_argument, "uniform", [] { uniform<float>({2}, 1.f, 0.f); }},
      {"uniform", "range: NaN bound", Expect::invalid_argument, "uniform",
       [] { uniform<double>({2}, kNaN, 1.0); }},
      {"randn", "range: negative stddev", Expect::invalid_argument, "randn", [] { randn<float>({2}, 0.f, -1.f); }},
      {"set_rng_state", "format: not a state", Expect::invalid_argument, "set_rng_state",
       [] { set_rng_state("not a generator state"); }},
      {"set_num_threads", "size: zero", Expect::invalid_argument, "set_num_threads", [] { set_num_threads(0); }},
      {"set_num_threads", "size: negative", Expect::invalid_argument, "set_num_threads", [] { set_num_threads(-2); }},
  };
  return t;
}

std::vector<BadCall> layer_calls() {
  using namespace tg;
  std::vector<BadCall> t = {
      {"Linear", "size: zero in_features", Expect::invalid_argument, "Linear", [] { Linear(0, 3); }},
      {"Linear", "size: zero out_features", Expect::invalid_argument, "Linear", [] { Linear(3, 0); }},
      {"Linear::forward", "shape: input features", Expect::invalid_argument, "Linear",
       [] { Linear(3, 2).forward(P(4, 5)); }},
      {"Embedding", "size: zero vocabulary", Expect::invalid_argument, "Embedding", [] { Embedding(0, 4); }},
      {"Embedding", "size: zero dimension", Expect::invalid_argument, "Embedding", [] { Embedding(4, 0); }},
      {"Embedding::forward", "id: too large", Expect::out_of_range, "embedding",
       [] { Embedding(4, 2).forward(IdTensor{4}); }},
      {"Dropout", "probability: above 1", Expect::invalid_argument, "Dropout", [] { Dropout(1.01); }},
      {"RNNCell", "size: zero hidden", Expect::invalid_argument, "RNNCell", [] { RNNCell(3, 0); }},
      {"LSTMCell", "size: zero input", Expect::invalid_argument, "LSTMCell", [] { LSTMCell(0, 3); }},
      {"GRUCell", "size: zero hidden", Expect::invalid_argument, "GRUCell", [] { GRUCell(2, 0); }},
      {"LayerNormLSTMCell", "size: zero hidden", Expect::invalid_argument, "LayerNormLSTMCell", [] { LayerNormLSTMCell(2, 0); }},
      {"LSTMCell::forward", "shape: input features", Expect::invalid_argument, "LSTMCell",
       [] {
         LSTMCell c(3, 4);
         c.forward(P(2, 5), c.initial_state(2));
       }},
      {"LSTMCell::forward", "state: one tensor instead of two", Expect::invalid_argument, "LSTMCell",
       [] {
         LSTMCell c(3, 4);
         c.forward(P(2, 3), {P(2, 4)});
       }},
      {"GRUCell::forward", "state: wrong batch", Expect::invalid_argument, "GRUCell",
       [] {
         GRUCell c(3, 4);
         c.forward(P(2, 3), c.initial_state(5));
       }},
      {"RNNCell::step", "state: wrong hidden size", Expect::invalid_argument, "RNNCell",
       [] {
         RNNCell c(3, 4);
         c.forward(P(2, 3), {P(2, 3)});
       }},
      {"Recurrent", "size: zero layers", Expect::invalid_argument, "Recurrent",
       [] { LSTM(LSTMOptions(3, 4).num_layers(0)); }},
      {"Recurrent", "probability: dropout above 1", Expect::invalid_argument, "Recurrent",
       [] { GRU(GRUOptions(3, 4).num_layers(2).dropout(1.5)); }},
      {"Recurrent", "size: zero hidden", Expect::invalid_argument, "RNNCell", [] { RNN(3, 0); }},
      {"Recurrent::forward", "shape: not [T, B, I]", Expect::invalid_argument, "Recurrent",
       [] { LSTM(3, 4).forward(P(2, 3)); }},
      {"Recurrent::forward", "shape: input features", Expect::invalid_argument, "Recurrent",
       [] { LSTM(3, 4).forward(Tensor::zeros({5, 2, 4}, tg::kFloat32, true)); }},
      {"Recurrent::forward", "state: wrong count", Expect::invalid_argument, "Recurrent",
       [] {
         LSTM l(LSTMOptions(3, 4).num_layers(2));
         l.forward(Tensor::zeros({5, 2, 3}, tg::kFloat32, true), {l.initial_state(2)[0]});
       }},
      {"Recurrent::forward", "mask: wrong batch", Expect::invalid_argument, "run_cell",
       [] {
         SequenceMask m(std::vector<std::size_t>{5, 3, 2}, 5);
         GRU(3, 4).forward(Tensor::zeros({5, 2, 3}, tg::kFloat32, true), m);
       }},
      {"Recurrent::cell", "index: no such layer", Expect::out_of_range, "Recurrent::cell",
       [] { LSTM(3, 4).cell(1); }},
      {"stack_states", "size: no states", Expect::invalid_argument, "stack_states",
       [] { stack_states(std::vector<State>{}); }},
      {"stack_states", "index: no such tensor", Expect::out_of_range, "stack_states",
       [] { stack_states(GRU(3, 4).initial_state(2), 1); }},
      {"SequenceMask", "shape: not [T, B]", Expect::invalid_argument, "SequenceMask",
       [] { SequenceMask(IdTensor{1, 1, 0}); }},
      {"SequenceMask", "mask: entry not 0 or 1", Expect::invalid_argument, "SequenceMask",
       [] { SequenceMask(IdTensor(xt::xarray<std::int64_t>{{1, 1}, {2, 0}})); }},
      {"SequenceMask", "mask: a real step after padding", Expect::invalid_argument, "SequenceMask",
       [] { SequenceMask(IdTensor(xt::xarray<std::int64_t>{{1, 0}, {1, 1}})); }},
      {"SequenceMask", "size: length longer than the steps", Expect::invalid_argument, "SequenceMask",
       [] { SequenceMask(std::vector<std::size_t>{3, 7}, 5); }},
      {"run_cell", "shape: rows not T*B", Expect::invalid_argument, "run_cell",
       [] {
         GRUCell c(3, 4);
         run_cell(c, P(7, 3), 2, c.initial_state(3));
       }},
      {"TBPTT", "size: k1 zero", Expect::invalid_argument, "TBPTT",
       [] {
         LSTM l(3, 4);
         TBPTT(l, 0);
       }},
      {"TBPTT", "size: k2 > k1", Expect::invalid_argument, "TBPTT",
       [] {
         LSTM l(3, 4);
         TBPTT(l, 8, 9);
       }},
      {"TBPTT", "misuse: bidirectional layer", Expect::invalid_argument, "TBPTT",
       [] {
         LSTM l(LSTMOptions(3, 4).bidirectional(true));
         TBPTT(l, 8);
       }},
      {"TBPTT::forward", "shape: block longer than k1", Expect::invalid_argument, "TBPTT",
       [] {
         LSTM l(3, 4);
         TBPTT(l, 4).forward(Tensor::zeros({5, 2, 3}));
       }},
      {"TBPTT::forward", "shape: batch changes between blocks", Expect::invalid_argument, "TBPTT",
       [] {
         LSTM l(3, 4);
         TBPTT tb(l, 4);
         tb.forward(Tensor::zeros({4, 2, 3}));
         tb.forward(Tensor::zeros({4, 3, 3}));
       }},
      {"TBPTT::reset_streams", "index: no such stream", Expect::out_of_range, "TBPTT::reset_streams",
       [] {
         LSTM l(3, 4);
         TBPTT tb(l, 4);
         tb.forward(Tensor::zeros({4, 2, 3}));
         tb.reset_streams({2});
       }},
      {"TBPTT::set_state", "state: wrong count", Expect::invalid_argument, "TBPTT::set_state",
       [] {
         LSTM l(LSTMOptions(3, 4).num_layers(2));
         TBPTT(l, 4).set_state({l.initial_state(2)[0]});
       }},
      {"TBPTT::set_state", "state: wrong hidden size", Expect::invalid_argument, "TBPTT::set_state",
       [] {
         GRU l(3, 4);
         TBPTT(l, 4).set_state({{Tensor::zeros({2, 5})}});
       }},
      {"Module::parameter", "name: unknown", Expect::out_of_range, "parameter",
       [] { Linear(3, 2).parameter("nope"); }},
      {"Module::set_requires_grad", "name: prefix matches nothing", Expect::out_of_range, "set_requires_grad",
       [] { Linear(3, 2).set_requires_grad("nope", false); }},
  };
  return t;
}

std::vector<BadCall> optim_calls() {
  using namespace tg;
  auto params = [] { return std::vector<Tensor>{P(2, 3)}; };
  auto with_grad = [] {
    auto p = P(2, 3);
    sum(p).backward();
    return std::vector<Tensor>{p};
  };
  std::vector<BadCall> t = {
      {"SGD", "range: negative lr", Expect::invalid_argument, "SGD", [=] { SGD(params(), SGDOptions(-1.0)); }},
      {"SGD", "range: NaN lr", Expect::invalid_argument, "SGD", [=] { SGD(params(), SGDOptions(kNaN)); }},
      {"SGD", "range: negative momentum", Expect::invalid_argument, "SGD",
       [=] { SGD(params(), SGDOptions(0.1).momentum(-0.5)); }},
      {"SGD", "range: dampening above 1", Expect::invalid_argument, "SGD",
       [=] { SGD(params(), SGDOptions(0.1).momentum(0.9).dampening(2.0)); }},
      {"SGD", "misuse: Nesterov without momentum", Expect::invalid_argument, "SGD",
       [=] { SGD(params(), SGDOptions(0.1).nesterov(true)); }},
      {"SGD", "size: no parameters", Expect::invalid_argument, "SGD", [] { SGD(std::vector<Tensor>{}); }},
      {"SGD", "misuse: a parameter twice", Expect::invalid_argument, "SGD",
       [] {
         auto p = P(2, 2);
         SGD(std::vector<Tensor>{p, p});
       }},
      {"SGD", "misuse: a non-leaf parameter", Expect::invalid_argument, "SGD",
       [] { SGD(std::vector<Tensor>{tanh(P(2, 2))}); }},
      {"Adam", "range: beta1 = 1", Expect::invalid_argument, "Adam",
       [=] { Adam(params(), AdamOptions(1e-3).betas({1.0, 0.999})); }},
      {"Adam", "range: beta2 negative", Expect::invalid_argument, "Adam",
       [=] { Adam(params(), AdamOptions(1e-3).betas({0.9, -0.1})); }},
      {"Adam", "range: infinite eps", Expect::invalid_argument, "Adam",
       [=] { Adam(params(), AdamOptions(1e-3).eps(kInf)); }},
      {"AdamW", "range: negative weight decay", Expect::invalid_argument, "AdamW",
       [=] { AdamW(params(), AdamWOptions(1e-3).weight_decay(-1.0)); }},
      {"Adagrad", "range: negative lr_decay", Expect::invalid_argument, "Adagrad",
       [=] { Adagrad(params(), AdagradOptions(1e-2).lr_decay(-1.0)); }},
      {"Adagrad", "range: negative initial accumulator", Expect::invalid_argument, "Adagrad",
       [=] { Adagrad(params(), AdagradOptions(1e-2).initial_accumulator_value(-1.0)); }},
      {"RMSprop", "range: alpha above 1", Expect::invalid_argument, "RMSprop",
       [=] { RMSprop(params(), RMSpropOptions(1e-2).alpha(1.5)); }},
      {"RMSprop", "range: negative momentum", Expect::invalid_argument, "RMSprop",
       [=] { RMSprop(params(), RMSpropOptions(1e-2).momentum(-0.9)); }},
      {"Optimizer::set_lr", "range: negative", Expect::invalid_argument, "set_lr",
       [=] { SGD(params()).set_lr(-1.0); }},
      {"Optimizer::set_lr", "index: no such group", Expect::out_of_range, "set_lr",
       [=] { SGD(params()).set_lr(3, 0.1); }},
      {"Optimizer::lr", "index: no such group", Expect::out_of_range, "lr", [=] { SGD(params()).lr(1); }},
      {"Optimizer::set_weight_decay", "range: NaN", Expect::invalid_argument, "set_weight_decay",
       [=] { SGD(params()).set_weight_decay(0, kNaN); }},
      {"Optimizer::load_state", "state: wrong shape", Expect::invalid_argument, "load_state",
       [=] {
         auto ps = with_grad();
         Adam a(ps);
         a.step();
         auto st = a.state();
         for (auto& kv : st)
           if (kv.second.numel() == 6) kv.second = Tensor::zeros({3, 2});
         a.load_state(st);
       }},
      {"Optimizer::load_state", "state: missing tensor", Expect::invalid_argument, "load_state",
       [=] {
         auto ps = with_grad();
         Adam a(ps);
         a.step();
         auto st = a.state();
         st.pop_back();
         a.load_state(st);
       }},
      {"Optimizer::load_state", "name: unknown tensor", Expect::invalid_argument, "load_state",
       [=] {
         auto ps = with_grad();
         SGD s(ps, SGDOptions(0.1).momentum(0.9));
         s.step();
         auto st = s.state();
         st.emplace_back("nope.momentum_buffer", Tensor::zeros({2, 3}));
         s.load_state(st);
       }},
      {"clip_grad_norm", "range: negative max_norm", Expect::invalid_argument, "clip_grad_norm",
       [=] { clip_grad_norm(with_grad(), -1.0); }},
      {"clip_grad_norm", "range: NaN max_norm", Expect::invalid_argument, "clip_grad_norm",
       [=] { clip_grad_norm(with_grad(), kNaN); }},
      {"clip_grad_norm", "value: non-finite gradient", Expect::non_finite, "clip_grad_norm",
       [] {
         auto p = P(2, 2);
         sum(mul_scalar(p, std::numeric_limits<float>::infinity())).backward();
         clip_grad_norm(std::vector<Tensor>{p}, 1.0);
       }},
      {"clip_grad_value", "range: negative clip_value", Expect::invalid_argument, "clip_grad_value",
       [=] { clip_grad_value(with_grad(), -0.5); }},
      {"clip_grad_value", "value: NaN gradient", Expect::non_finite, "clip_grad_value",
       [] {
         auto p = P(2, 2);
         sum(mul_scalar(p, std::numeric_limits<float>::quiet_NaN())).backward();
         clip_grad_value(std::vector<Tensor>{p}, 1.0);
       }},
      {"StepLR", "size: zero step_size", Expect::invalid_argument, "StepLR",
       [=] {
         SGD s(params());
         StepLR(s, 0);
       }},
      {"StepLR", "range: negative gamma", Expect::invalid_argument, "StepLR",
       [=] {
         SGD s(params());
         StepLR(s, 10, -0.5);
       }},
      {"ExponentialLR", "range: infinite gamma", Expect::invalid_argument, "ExponentialLR",
       [=] {
         SGD s(params());
         ExponentialLR(s, kInf);
       }},
      {"CosineAnnealingLR", "size: zero T_max", Expect::invalid_argument, "CosineAnnealingLR",
       [=] {
         SGD s(params());
         CosineAnnealingLR(s, 0);
       }},
      {"LinearWarmup", "size: zero warm-up steps", Expect::invalid_argument, "LinearWarmup",
       [=] {
         SGD s(params());
         LinearWarmup(s, 0);
       }},
      {"LinearWarmup", "misuse: follow-up drives another optimizer", Expect::invalid_argument, "LinearWarmup",
       [=] {
         SGD a(params()), b(params());
         LinearWarmup(a, 5, CosineAnnealingLR(b, 10));
       }},
      {"LRScheduler::load_state", "range: negative step", Expect::invalid_argument, "load_state",
       [=] {
         SGD s(params());
         StepLR(s, 10).load_state(-1);
       }},
  };
  return t;
}

std::vector<BadCall> io_calls(const std::string& dir) {
  using namespace tg;
  const std::string good = dir + "/good.safetensors";
  {
    Linear m(3, 2);
    save_checkpoint(good, m);
  }
  std::vector<BadCall> t = {
      {"load_safetensors", "file: missing", Expect::checkpoint_error, "missing.safetensors",
       [=] { load_safetensors(dir + "/missing.safetensors"); }},
      {"parse_safetensors", "file: empty", Expect::checkpoint_error, "empty-buffer",
       [] { parse_safetensors("", 0, "empty-buffer"); }},
      {"parse_safetensors", "file: header length past the end", Expect::checkpoint_error, "lying-header",
       [] {
         const unsigned char bytes[8] = {0xff, 0xff, 0, 0, 0, 0, 0, 0};
         parse_safetensors(bytes, sizeof bytes, "lying-header");
       }},
      {"save_safetensors", "file: directory does not exist", Expect::checkpoint_error, "no/such/dir",
       [=] { save_safetensors(dir + "/no/such/dir/x.safetensors", StoredTensors{}); }},
      {"load_checkpoint", "file: missing", Expect::checkpoint_error, "missing.ckpt",
       [=] {
         Linear m(3, 2);
         load_checkpoint(dir + "/missing.ckpt", m);
       }},
      {"load_checkpoint", "model: different shapes", Expect::checkpoint_error, "good.safetensors",
       [=] {
         Linear m(4, 2);
         load_checkpoint(good, m);
       }},
      {"load_checkpoint", "model: different parameters", Expect::checkpoint_error, "good.safetensors",
       [=] {
         Embedding m(3, 2);
         load_checkpoint(good, m);
       }},
      {"read_checkpoint_metadata", "file: missing", Expect::checkpoint_error, "missing.ckpt",
       [=] { read_checkpoint_metadata(dir + "/missing.ckpt"); }},
      {"save_checkpoint", "metadata: reserved key", Expect::invalid_argument, "save_checkpoint",
       [=] {
         Linear m(3, 2);
         save_checkpoint(dir + "/x.ckpt", m, SaveCheckpointOptions().metadata({{"tapegrad.format_version", "9"}}));
       }},
  };
  return t;
}

// Runs one bad call: the right exception type, the name in its message, nothing left on the tape.
void check_bad_call(const BadCall& c) {
  const std::string label = std::string(c.function) + " [" + c.arg_class + "]";
  CAPTURE(label);
  tg::clear_tape();
  std::string what;
  bool right_type = false, threw = false;
  try {
    c.call();
  } catch (const tg::NonFiniteError& e) {
    threw = true, what = e.what(), right_type = c.expect == Expect::non_finite;
  } catch (const tg::CheckpointError& e) {
    threw = true, what = e.what(), right_type = c.expect == Expect::checkpoint_error;
  } catch (const std::out_of_range& e) {
    threw = true, what = e.what(), right_type = c.expect == Expect::out_of_range;
  } catch (const std::invalid_argument& e) {
    threw = true, what = e.what(), right_type = c.expect == Expect::invalid_argument;
  } catch (const std::logic_error& e) {
    threw = true, what = e.what(), right_type = c.expect == Expect::logic_error;
  } catch (const std::exception& e) {
    threw = true, what = std::string("other std::exception: ") + e.what();
  }
  CAPTURE(what);
  CHECK_MESSAGE(threw, "expected " << expect_name(c.expect) << ", nothing was thrown");
  CHECK_MESSAGE(right_type, "expected " << expect_name(c.expect));
  CHECK_MESSAGE(what.find(c.named) != std::string::npos, "the message should name '" << std::string(c.named) << "'");
  tg::clear_tape();  // what a training loop's next iteration does
  CHECK(tg::tape_stats().nodes == 0);

  tgtest::check_tape_works();
}

void run_table(const std::vector<BadCall>& table) {
  for (const auto& c : table) check_bad_call(c);
}

}  // namespace

TEST_CASE("bad input: autograd functions throw the documented type naming the op") {
  tg::manual_seed(1);
  run_table(autograd_calls());
  tg::set_num_threads(1);
}

TEST_CASE("bad input: layer constructors and forwards throw naming the layer") {
  tg::manual_seed(2);
  run_table(layer_calls());
}

TEST_CASE("bad input: optimizers, clipping and schedules throw naming the function") {
  tg::manual_seed(3);
  run_table(optim_calls());
}

TEST_CASE("bad input: checkpoint and safetensors functions name the file") {
  tgtest::TempDir dir;
  run_table(io_calls(dir.path()));
}

TEST_CASE("bad input: a failed op in the middle of a graph leaves the rest of the graph usable") {
  // The throwing op records nothing, so the graph built before it still goes backward.
  auto w = P(3, 3);
  auto h = tg::tanh(w);
  const auto before = tg::tape_stats().nodes;
  CHECK_THROWS_AS(tg::matmul(h, P(2, 2)), std::invalid_argument);
  CHECK(tg::tape_stats().nodes == before);
  tg::sum(h).backward();
  const auto expected = 1.0f - xt::square(xt::tanh(w.value<float>()));  // d tanh = 1 - tanh^2
  CHECK(xt::allclose(w.grad().value<float>(), expected));
}

TEST_CASE("bad input: gradcheck leaves values and gradients as they were when f throws") {
  auto x = tgtest::param({3});
  tg::sum(x * x).backward();
  const xt::xarray<double> value = x.value<double>(), grad = x.grad().value<double>();
  int calls = 0;
  auto f = [&](const std::vector<Tensor>& in) {
    if (++calls == 3) throw std::invalid_argument("f: failing on purpose");  // inside the numeric pass
    return tg::tanh(in[0]);
  };
  CHECK_THROWS_AS(tg::gradcheck(f, {x}), std::invalid_argument);
  CHECK(x.value<double>() == value);
  CHECK(x.grad().value<double>() == grad);
}

TEST_CASE("bad input: the table covers every public function family") {
  // A guard that the table is not silently emptied: count the distinct functions and cases.
  tgtest::TempDir dir;
  std::set<std::string> functions;
  std::size_t cases = 0;
  const std::vector<std::vector<BadCall>> tables = {autograd_calls(), layer_calls(), optim_calls(),
                                                    io_calls(dir.path())};
  for (const auto& table : tables) {
    for (const auto& c : table) functions.insert(c.function);
    cases += table.size();
  }
  MESSAGE("bad-input table: " << cases << " cases over " << functions.size() << " public functions");
  CHECK(cases >= 155);
  CHECK(functions.size() >= 81);
}
