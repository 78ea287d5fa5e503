// Hostile input to the C++ API, table-driven: zero-size axes in every op and layer (forward and
// backward, PyTorch's result shapes), shapes whose element or byte count overflows, absurd
// allocations, and thread counts beyond the machine. Each row names a call and its expected
// outcome: an exception type with a word its message must contain, or success with a result
// shape. After every row the tape must still work (a fresh graph gets the right gradient).
#include <sched.h>

#include <climits>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <map>
#include <string>
#include <thread>

#include <tapegrad/autograd/detail/kernels.hpp>

#include "test_helpers.hpp"

// Rows that allocate terabytes abort under AddressSanitizer (its allocator refuses them with a
// fatal report instead of returning null), so they are skipped in the sanitized build.
#if defined(__SANITIZE_ADDRESS__)
#define TG_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TG_TEST_ASAN 1
#endif
#endif
#ifndef TG_TEST_ASAN
#define TG_TEST_ASAN 0
#endif

namespace {

using tg::Shape;
using tg::Tensor;


constexpr std::size_t kBig = std::size_t(1) << 40;  // a size no test machine can hold 2^40 floats of

enum class Expect { succeeds, invalid_argument, out_of_range, bad_alloc };

const char* expect_name(Expect e) {
  switch (e) {
    case Expect::succeeds: return "success";
    case Expect::invalid_argument: return "std::invalid_argument";
    case Expect::out_of_range: return "std::out_of_range";
    case Expect::bad_alloc: return "std::bad_alloc";
  }
  return "?";
}

struct Row {
  std::string name;
  const char* kind;  // "zero-size", "overflow", "allocation", "threads"
  Expect expect;
  const char* named;  // a throwing row: must appear in the message (the op)
  Shape shape;        // a succeeding row: the result's shape
  std::function<Shape()> call;
  bool huge_memory = false;  // asks the system for terabytes: not under ASan
};

// ---------------------------------------------------------------------------------------------
// Zero-size rows. One generic function of the inputs runs in float and double; for each:
// the output shape, the gradient of every input after a backward through sum(w * y) (its
// input's shape, finite, and all zeros when y is empty), and in double a gradcheck (so inputs
// that are not empty, a bias or the non-empty piece of a concat, get the right gradient).

template <class T>
std::vector<tg::Tensor> make_inputs(const std::vector<Shape>& shapes) {
  std::vector<tg::Tensor> in;
  // Values in [0.5, 1.5): log, sqrt, div and pow stay finite.
  for (const auto& s : shapes) in.push_back(tg::Tensor::param(tg::uniform<T>(s, T(0.5), T(1.5))));
  return in;
}

using ValueCheck = std::function<void(const xt::xarray<double>& y, const std::vector<xt::xarray<double>>& in)>;

template <class F>
Shape run_zero_size(const std::vector<tg::Tensor>& in, F f, const ValueCheck& check) {
  const tg::Tensor y = f(std::vector<Tensor>(in.begin(), in.end()));
  const Shape ys = y.shape();
  if (check) {
    std::vector<xt::xarray<double>> xs;
    for (const auto& x : in) xs.push_back(x.to_xarray<double>());
    check(y.to_xarray<double>(), xs);
  }
  // Backward through the (possibly empty) result.
  const auto w = tg::Tensor::constant(tg::uniform<double>(ys, -1.0, 1.0)).to(y.dtype());
  if (y.requires_grad()) tg::sum(y * w).backward();
  for (const auto& x : in) {
    if (!x.requires_grad()) continue;
    const tg::Tensor g = x.grad();
    if (!g.defined()) {  // no gradient reached x (Note [reading gradients]): only an empty output sends none
      CHECK_MESSAGE((y.numel() == 0 || x.numel() == 0), "no gradient reached input " << tg::to_string(x.shape()));
      continue;
    }
    CHECK_MESSAGE(Shape(g.shape()) == x.shape(), "gradient shape " << tg::to_string(Shape(g.shape()))
                                                                   << " vs input " << tg::to_string(x.shape()));
    const xt::xarray<double> gv = g.to_xarray<double>();
    for (std::size_t i = 0; i < x.numel(); ++i) {
      REQUIRE(std::isfinite(gv.flat(i)));
      if (y.numel() == 0) REQUIRE(gv.flat(i) == 0.0);  // an empty output sends no gradient
    }
  }
  tg::clear_tape();
  return ys;
}

// A row from input shapes and a generic lambda (the same code in float and double).
template <class F>
Row zero_size(std::string name, std::vector<Shape> shapes, Shape expected, F f, ValueCheck check = {}) {
  return {std::move(name), "zero-size", Expect::succeeds, "", expected, [=] {
            const Shape fs = run_zero_size(make_inputs<float>(shapes), f, check);
            const auto in = make_inputs<double>(shapes);
            const Shape ds = run_zero_size(in, f, check);
            CHECK(fs == ds);
            CHECK_GRADCHECK(tg::GradcheckFn(f), in);
            return ds;
          }};
}

// A row over double tensors built by `make` (module parameters, ids, states): inputs and f.
struct Built {
  std::vector<Tensor> inputs;
  tg::GradcheckFn f;
};
Row built(std::string name, Shape expected, std::function<Built()> make, ValueCheck check = {}) {
  return {std::move(name), "zero-size", Expect::succeeds, "", expected, [=] {
            const Built b = make();
            const Shape s = run_zero_size(std::vector<tg::Tensor>(b.inputs.begin(), b.inputs.end()), b.f, check);
            CHECK_GRADCHECK(b.f, b.inputs);
            return s;
          }};
}

// A row that must throw `e` with `named` in the message.
Row throws(std::string name, const char* kind, Expect e, const char* named, std::function<void()> call,
           bool huge_memory = false) {
  return {std::move(name), kind, e, named, Shape{}, [call] {
            call();
            return Shape{};
          }, huge_memory};
}

// A scalar for the scalar ops (they take a double and compute in the tensor's dtype).
template <class V>
double S(const V&, double v) {
  return v;
}

tg::IdTensor ids_of_shape(const Shape& s, std::int64_t value = 0) {
  xt::xarray<std::int64_t> a = xt::xarray<std::int64_t>::from_shape(s);
  a.fill(value);
  return a;
}

void all_equal(const xt::xarray<double>& y, double v) {
  for (double e : y) CHECK(e == v);
}
void all_nan(const xt::xarray<double>& y) {
  CHECK(y.size() > 0);
  for (double e : y) CHECK(std::isnan(e));
}

std::vector<Row> zero_size_rows() {
  using namespace tg;
  const ValueCheck zeros = [](const auto& y, const auto&) { all_equal(y, 0.0); };
  const ValueCheck nans = [](const auto& y, const auto&) { all_nan(y); };
  std::vector<Row> t = {
      // --- elementwise, broadcasting
      zero_size("add [0,3]+[0,3]", {{0, 3}, {0, 3}}, {0, 3}, [](const auto& in) { return add(in[0], in[1]); }),
      zero_size("add [0,3]+[3]", {{0, 3}, {3}}, {0, 3}, [](const auto& in) { return add(in[0], in[1]); }),
      zero_size("add [2,0]+[2,1]", {{2, 0}, {2, 1}}, {2, 0}, [](const auto& in) { return add(in[0], in[1]); }),
      zero_size("add [1]+[0]", {{1}, {0}}, {0}, [](const auto& in) { return add(in[0], in[1]); }),
      zero_size("sub [0,3]-[1,3]", {{0, 3}, {1, 3}}, {0, 3}, [](const auto& in) { return sub(in[0], in[1]); }),
      zero_size("mul [4,0]*[0]", {{4, 0}, {0}}, {4, 0}, [](const auto& in) { return mul(in[0], in[1]); }),
      zero_size("div [0]/[1]", {{0}, {1}}, {0}, [](const auto& in) { return div(in[0], in[1]); }),
      zero_size("div [3,1]/[3,0]", {{3, 1}, {3, 0}}, {3, 0}, [](const auto& in) { return div(in[0], in[1]); }),
      // --- unary and scalar
      zero_size("neg [0,5]", {{0, 5}}, {0, 5}, [](const auto& in) { return neg(in[0]); }),
      zero_size("add_scalar [3,0,2]", {{3, 0, 2}}, {3, 0, 2}, [](const auto& in) { return in[0] + S(in, 2); }),
      zero_size("mul_scalar [0]", {{0}}, {0}, [](const auto& in) { return in[0] * S(in, 3); }),
      zero_size("rsub_scalar [0,2]", {{0, 2}}, {0, 2}, [](const auto& in) { return S(in, 1) - in[0]; }),
      zero_size("rdiv_scalar [0,2]", {{0, 2}}, {0, 2}, [](const auto& in) { return S(in, 1) / in[0]; }),
      zero_size("tanh [0,5]", {{0, 5}}, {0, 5}, [](const auto& in) { return tanh(in[0]); }),
      zero_size("sigmoid [5,0]", {{5, 0}}, {5, 0}, [](const auto& in) { return sigmoid(in[0]); }),
      zero_size("relu [0]", {{0}}, {0}, [](const auto& in) { return relu(in[0]); }),
      zero_size("exp [0,1,1]", {{0, 1, 1}}, {0, 1, 1}, [](const auto& in) { return exp(in[0]); }),
      zero_size("log [2,0]", {{2, 0}}, {2, 0}, [](const auto& in) { return log(in[0]); }),
      zero_size("sqrt [0,4]", {{0, 4}}, {0, 4}, [](const auto& in) { return sqrt(in[0]); }),
      zero_size("square [0,4]", {{0, 4}}, {0, 4}, [](const auto& in) { return square(in[0]); }),
      zero_size("pow [0,4]", {{0, 4}}, {0, 4}, [](const auto& in) { return pow(in[0], S(in, 3)); }),
      zero_size("clamp [4,0]", {{4, 0}}, {4, 0}, [](const auto& in) { return clamp(in[0], S(in, 0.7), S(in, 1.2)); }),
      zero_size("abs [0,4]", {{0, 4}}, {0, 4}, [](const auto& in) { return abs(in[0]); }),
      zero_size("gelu [2,0]", {{2, 0}}, {2, 0}, [](const auto& in) { return gelu(in[0]); }),
      zero_size("softplus [0]", {{0}}, {0}, [](const auto& in) { return softplus(in[0]); }),
      zero_size("maximum [0,3] and [3]", {{0, 3}, {3}}, {0, 3}, [](const auto& in) { return maximum(in[0], in[1]); }),
      zero_size("logsumexp over an axis of size 0 is -inf", {{3, 0}}, {3}, [](const auto& in) { return logsumexp(in[0], 1); },
                [](const auto& y, const auto&) { all_equal(y, -INFINITY); }),
      zero_size("cumsum [0,3]", {{0, 3}}, {0, 3}, [](const auto& in) { return cumsum(in[0], 1); }),
      zero_size("cumsum [2^40, 0] returns at once", {{kBig, 0}}, {kBig, 0}, [](const auto& in) { return cumsum(in[0], 0); }),
      zero_size("logsumexp [2^40, 0] axis 0 returns at once", {{kBig, 0}}, {0}, [](const auto& in) { return logsumexp(in[0], 0); }),
      // --- reductions: PyTorch's sum over nothing is 0, mean over nothing NaN
      zero_size("sum all of [0,3] is 0", {{0, 3}}, {}, [](const auto& in) { return sum(in[0]); }, zeros),
      zero_size("mean all of [0,3] is NaN", {{0, 3}}, {}, [](const auto& in) { return mean(in[0]); }, nans),
      zero_size("sum axis 0 of [0,3] is zeros [3]", {{0, 3}}, {3}, [](const auto& in) { return sum(in[0], 0); }, zeros),
      zero_size("sum axis 0 keepdims of [0,3]", {{0, 3}}, {1, 3}, [](const auto& in) { return sum(in[0], 0, true); }, zeros),
      zero_size("sum axis 1 of [0,3]", {{0, 3}}, {0}, [](const auto& in) { return sum(in[0], 1); }),
      zero_size("sum axis -1 of [2,0]", {{2, 0}}, {2}, [](const auto& in) { return sum(in[0], -1); }, zeros),
      zero_size("mean axis 0 of [0,3] is NaN [3]", {{0, 3}}, {3}, [](const auto& in) { return mean(in[0], 0); }, nans),
      zero_size("mean axis 1 of [0,3]", {{0, 3}}, {0}, [](const auto& in) { return mean(in[0], 1); }),
      zero_size("mean axis 1 keepdims of [2,0]", {{2, 0}}, {2, 1}, [](const auto& in) { return mean(in[0], 1, true); }, nans),
      zero_size("tanh of mean axis 0 of [0,3] (backward through NaN)", {{0, 3}}, {3},
                [](const auto& in) { return tanh(mean(in[0], 0)); }, nans),
      zero_size("max over the full axis of [0,3]", {{0, 3}}, {0}, [](const auto& in) { return max(in[0], 1).first; }),
      zero_size("amin keepdims of [2,0,3] on axis 2", {{2, 0, 3}}, {2, 0, 1}, [](const auto& in) { return amin(in[0], 2, true); }),
      // --- linear algebra: K = 0 gives zeros; BLAS is never called with an empty operand
      zero_size("matmul M=0", {{0, 3}, {3, 4}}, {0, 4}, [](const auto& in) { return matmul(in[0], in[1]); }),
      zero_size("matmul N=0", {{2, 3}, {3, 0}}, {2, 0}, [](const auto& in) { return matmul(in[0], in[1]); }),
      zero_size("matmul K=0 is zeros", {{2, 0}, {0, 4}}, {2, 4}, [](const auto& in) { return matmul(in[0], in[1]); }, zeros),
      zero_size("matmul K=0 then tanh", {{40, 0}, {0, 70}}, {40, 70},
                [](const auto& in) { return tanh(matmul(in[0], in[1])); }, zeros),
      zero_size("matmul all zero", {{0, 0}, {0, 0}}, {0, 0}, [](const auto& in) { return matmul(in[0], in[1]); }),
      {"matmul and linear with an empty side never call BLAS (one real product: 1 call)", "zero-size",
       Expect::succeeds, "", {1}, [] {
         // BLAS would need leading dimensions >= 1; the recorder sees every call that reaches it.
         detail::start_gemm_recording();
         auto a = Tensor::param(xt::zeros<float>({2, 0})), b = Tensor::param(xt::zeros<float>({0, 3}));
         auto w = Tensor::param(xt::zeros<float>({4, 0})), x0 = Tensor::param(xt::zeros<float>({0, 5}));
         auto w5 = Tensor::param(xt::zeros<float>({4, 5}));
         sum(matmul(a, b)).backward();
         sum(linear(a, w)).backward();
         sum(linear(x0, w5)).backward();
         sum(matmul(b, Tensor::param(xt::zeros<float>({3, 0})))).backward();
         matmul(Tensor::constant(xt::ones<float>({2, 3})), Tensor::constant(xt::ones<float>({3, 4})));  // the control
         return Shape{detail::stop_gemm_recording().size()};
       }},
      zero_size("matmul batched M=0", {{2, 0, 3}, {2, 3, 4}}, {2, 0, 4}, [](const auto& in) { return matmul(in[0], in[1]); }),
      zero_size("matmul no batches", {{0, 3, 4}, {4, 5}}, {0, 3, 5}, [](const auto& in) { return matmul(in[0], in[1]); }),
      zero_size("matmul no batches, broadcast", {{2, 0, 3, 4}, {1, 4, 5}}, {2, 0, 3, 5},
                [](const auto& in) { return matmul(in[0], in[1]); }),
      zero_size("matmul batched K=0 is zeros", {{2, 3, 0}, {0, 4}}, {2, 3, 4}, [](const auto& in) { return matmul(in[0], in[1]); }, zeros),
      zero_size("matmul per-batch K=0 is zeros", {{3, 0}, {2, 0, 4}}, {2, 3, 4}, [](const auto& in) { return matmul(in[0], in[1]); }, zeros),
      zero_size("matmul vector K=0 is a zero scalar", {{0}, {0}}, {}, [](const auto& in) { return matmul(in[0], in[1]); }, zeros),
      zero_size("permute [0,3,2]", {{0, 3, 2}}, {2, 0, 3}, [](const auto& in) { return permute(in[0], {2, 0, 1}); }),
      zero_size("transpose(x, 0, 2) [2,3,0]", {{2, 3, 0}}, {0, 3, 2}, [](const auto& in) { return transpose(in[0], 0, 2); }),
      zero_size("expand [1,0] to [5,0]", {{1, 0}}, {5, 0}, [](const auto& in) { return expand(in[0], {5, 0}); }),
      zero_size("stack [0,3] twice", {{0, 3}, {0, 3}}, {2, 0, 3},
                [](const auto& in) { return stack(std::vector<std::decay_t<decltype(in[0])>>{in[0], in[1]}, 0); }),
      zero_size("flatten [2,0,3]", {{2, 0, 3}}, {0}, [](const auto& in) { return flatten(in[0]); }),
      zero_size("unsqueeze [0]", {{0}}, {1, 0}, [](const auto& in) { return unsqueeze(in[0], 0); }),
      zero_size("squeeze [1,0,1]", {{1, 0, 1}}, {0}, [](const auto& in) { return squeeze(in[0]); }),
      zero_size("where [0,3] against [3]", {{0, 3}, {3}}, {0, 3},
                [](const auto& in) { return where(ids_of_shape({3}, 1), in[0], in[1]); }),
      zero_size("masked_fill [2,0]", {{2, 0}}, {2, 0}, [](const auto& in) { return masked_fill(in[0], ids_of_shape({0}, 1), 1.0); }),
      zero_size("gather with an empty index", {{2, 3}}, {2, 0}, [](const auto& in) { return gather(in[0], 1, ids_of_shape({2, 0})); }),
      zero_size("gather from [0,3]", {{0, 3}}, {0, 3}, [](const auto& in) { return gather(in[0], 1, ids_of_shape({0, 3})); }),
      zero_size("index_select an empty index", {{2, 3}}, {0, 3}, [](const auto& in) { return index_select(in[0], 0, ids_of_shape({0})); }),
      zero_size("index_select from [2,0]", {{2, 0}}, {1, 0}, [](const auto& in) { return index_select(in[0], 0, ids_of_shape({1})); }),
      zero_size("transpose [0,3]", {{0, 3}}, {3, 0}, [](const auto& in) { return transpose(in[0]); }),
      zero_size("transpose [2,0]", {{2, 0}}, {0, 2}, [](const auto& in) { return transpose(in[0]); }),
      zero_size("linear N=0", {{0, 3}, {4, 3}, {4}}, {0, 4}, [](const auto& in) { return linear(in[0], in[1], in[2]); }),
      zero_size("linear I=0 is the bias", {{2, 0}, {4, 0}, {4}}, {2, 4},
                [](const auto& in) { return linear(in[0], in[1], in[2]); },
                [](const auto& y, const auto& in) {
                  for (std::size_t r = 0; r < 2; ++r)
                    for (std::size_t j = 0; j < 4; ++j) CHECK(y(r, j) == doctest::Approx(in[2](j)).epsilon(1e-6));
                }),
      zero_size("linear I=0, 300 rows (immediate dW)", {{300, 0}, {4, 0}}, {300, 4},
                [](const auto& in) { return linear(in[0], in[1]); }, zeros),
      zero_size("linear O=0", {{2, 3}, {0, 3}, {0}}, {2, 0}, [](const auto& in) { return linear(in[0], in[1], in[2]); }),
      zero_size("linear N=0 with residual", {{0, 3}, {4, 3}, {4}, {0, 4}}, {0, 4},
                [](const auto& in) { return linear(in[0], in[1], in[2], in[3]); }),
      zero_size("linear I=0 with residual", {{2, 0}, {4, 0}, {4}, {2, 4}}, {2, 4},
                [](const auto& in) { return linear(in[0], in[1], in[2], in[3]); }),
      // --- shape ops
      zero_size("reshape [0,3] to [3,0,5]", {{0, 3}}, {3, 0, 5}, [](const auto& in) { return reshape(in[0], {3, 0, 5}); }),
      zero_size("reshape [2,0] to [0]", {{2, 0}}, {0}, [](const auto& in) { return reshape(in[0], {0}); }),
      zero_size("concat [2,3] with an empty [0,3] on axis 0", {{2, 3}, {0, 3}}, {2, 3},
                [](const auto& in) { return concat(std::vector<std::decay_t<decltype(in[0])>>{in[0], in[1]}, 0); }),
      zero_size("concat [2,3], [2,0], [2,1] on axis 1", {{2, 3}, {2, 0}, {2, 1}}, {2, 4},
                [](const auto& in) { return concat(std::vector<std::decay_t<decltype(in[0])>>{in[0], in[1], in[2]}, 1); }),
      zero_size("concat [0,3] and [0,3] on axis 0", {{0, 3}, {0, 3}}, {0, 3},
                [](const auto& in) { return concat(std::vector<std::decay_t<decltype(in[0])>>{in[0], in[1]}, 0); }),
      zero_size("concat [0,3] and [0,2] on axis 1", {{0, 3}, {0, 2}}, {0, 5},
                [](const auto& in) { return concat(std::vector<std::decay_t<decltype(in[0])>>{in[0], in[1]}, 1); }),
      zero_size("concat of one empty tensor", {{3, 0}}, {3, 0},
                [](const auto& in) { return concat(std::vector<std::decay_t<decltype(in[0])>>{in[0]}, 1); }),
      zero_size("slice length 0 on axis 0", {{3, 4}}, {0, 4}, [](const auto& in) { return slice(in[0], 0, 1, 0); }),
      zero_size("slice length 0 at the end of axis 1", {{3, 4}}, {3, 0}, [](const auto& in) { return slice(in[0], 1, 4, 0); }),
      zero_size("slice of [0,4] on axis 1", {{0, 4}}, {0, 2}, [](const auto& in) { return slice(in[0], 1, 1, 2); }),
      zero_size("slice of [0,4] on axis 0", {{0, 4}}, {0, 4}, [](const auto& in) { return slice(in[0], 0, 0, 0); }),
      zero_size("split [3,4] into {0, 4, 0}: first piece", {{3, 4}}, {3, 0},
                [](const auto& in) {
                  const auto parts = split(in[0], {0, 4, 0}, 1);
                  CHECK(parts.size() == 3);
                  return parts[0];
                }),
      zero_size("split [3,4] into {0, 4, 0}: middle piece", {{3, 4}}, {3, 4},
                [](const auto& in) { return split(in[0], {0, 4, 0}, 1)[1]; }),
      zero_size("split [0,4] into {1, 3}", {{0, 4}}, {0, 3}, [](const auto& in) { return split(in[0], {1, 3}, 1)[1]; }),
      zero_size("chunk [0,4] into 3 along the empty axis (PyTorch: 3 empty pieces)", {{0, 4}}, {0, 4},
                [](const auto& in) {
                  const auto parts = chunk(in[0], 3, 0);
                  CHECK(parts.size() == 3);
                  return parts[2];
                }),
      zero_size("chunk [0,4] into 2 along axis 1", {{0, 4}}, {0, 2}, [](const auto& in) { return chunk(in[0], 2, 1)[1]; }),
      // --- nn ops
      zero_size("softmax [3,0] over its empty rows", {{3, 0}}, {3, 0}, [](const auto& in) { return softmax(in[0], -1); }),
      zero_size("softmax [0,5] (no rows)", {{0, 5}}, {0, 5}, [](const auto& in) { return softmax(in[0], -1); }),
      zero_size("softmax [2,0,3] over axis 1", {{2, 0, 3}}, {2, 0, 3}, [](const auto& in) { return softmax(in[0], 1); }),
      zero_size("softmax [2,3,0] over axis 1", {{2, 3, 0}}, {2, 3, 0}, [](const auto& in) { return softmax(in[0], 1); }),
      zero_size("log_softmax [3,0]", {{3, 0}}, {3, 0}, [](const auto& in) { return log_softmax(in[0], -1); }),
      zero_size("log_softmax [0,5]", {{0, 5}}, {0, 5}, [](const auto& in) { return log_softmax(in[0], -1); }),
      zero_size("log_softmax [4,0,2] over axis 0", {{4, 0, 2}}, {4, 0, 2}, [](const auto& in) { return log_softmax(in[0], 0); }),
      zero_size("embedding with 0 ids", {{4, 2}}, {0, 2}, [](const auto& in) { return embedding(in[0], ids_of_shape({0})); }),
      zero_size("embedding with ids [3,0]", {{4, 2}}, {3, 0, 2}, [](const auto& in) { return embedding(in[0], ids_of_shape({3, 0})); }),
      zero_size("embedding with E=0", {{4, 0}}, {2, 0}, [](const auto& in) { return embedding(in[0], IdTensor{1, 3}); }),
      zero_size("embedding with V=0 and 0 ids", {{0, 3}}, {0, 3}, [](const auto& in) { return embedding(in[0], ids_of_shape({0})); }),
      zero_size("embedding with IdTensor{} (no ids)", {{4, 2}}, {0, 2}, [](const auto& in) { return embedding(in[0], IdTensor{}); }),
      zero_size("dropout train [0,4]", {{0, 4}}, {0, 4},
                [](const auto& in) {
                  manual_seed(5);
                  return dropout(in[0], 0.5, true);
                }),
      zero_size("dropout eval [0,4]", {{0, 4}}, {0, 4}, [](const auto& in) { return dropout(in[0], 0.5, false); }),
      zero_size("layer_norm [0,4]", {{0, 4}, {4}, {4}}, {0, 4}, [](const auto& in) { return layer_norm(in[0], in[1], in[2]); }),
      zero_size("layer_norm [3,0] (N = 0, as PyTorch: empty)", {{3, 0}, {0}, {0}}, {3, 0},
                [](const auto& in) { return layer_norm(in[0], in[1], in[2]); }),
      zero_size("layer_norm [2,0,5] without gamma and beta", {{2, 0, 5}}, {2, 0, 5},
                [](const auto& in) { return layer_norm(in[0], {}, {}); }),
      // --- huge sizes beside a zero: nothing to compute, and nothing may loop over the others
      zero_size("sum axis 0 of [2^40, 0] returns at once", {{kBig, 0}}, {0}, [](const auto& in) { return sum(in[0], 0); }),
      zero_size("mean axis 0 of [2^40, 0] returns at once", {{kBig, 0}}, {0}, [](const auto& in) { return mean(in[0], 0); }),
      zero_size("sum of [2^40, 0] is 0", {{kBig, 0}}, {}, [](const auto& in) { return sum(in[0]); }, zeros),
      zero_size("softmax [2^40, 0] returns at once", {{kBig, 0}}, {kBig, 0}, [](const auto& in) { return softmax(in[0], -1); }),
      zero_size("log_softmax [0, 2^20, 2^20] over axis 0", {{0, 1u << 20, 1u << 20}}, {0, 1u << 20, 1u << 20},
                [](const auto& in) { return log_softmax(in[0], 0); }),
      zero_size("transpose [2^40, 0]", {{kBig, 0}}, {0, kBig}, [](const auto& in) { return transpose(in[0]); }),
      zero_size("layer_norm [2^40, 0]", {{kBig, 0}}, {kBig, 0}, [](const auto& in) { return layer_norm(in[0], {}, {}); }),
      zero_size("slice [2^40, 0] on axis 1", {{kBig, 0}}, {kBig, 0}, [](const auto& in) { return slice(in[0], 1, 0, 0); }),
      zero_size("concat [2^40, 0] twice on axis 1", {{kBig, 0}, {kBig, 0}}, {kBig, 0},
                [](const auto& in) { return concat(std::vector<std::decay_t<decltype(in[0])>>{in[0], in[1]}, 1); }),
      zero_size("matmul [2^40, 0] x [0, 0]", {{kBig, 0}, {0, 0}}, {kBig, 0}, [](const auto& in) { return matmul(in[0], in[1]); }),
      zero_size("matmul [2^40, 0, 3] x [3, 4]", {{kBig, 0, 3}, {3, 4}}, {kBig, 0, 4}, [](const auto& in) { return matmul(in[0], in[1]); }),
      zero_size("matmul [3, 4] x [2^40, 4, 0]", {{3, 4}, {kBig, 4, 0}}, {kBig, 3, 0}, [](const auto& in) { return matmul(in[0], in[1]); }),
      zero_size("permute [2^40, 0]", {{kBig, 0}}, {0, kBig}, [](const auto& in) { return permute(in[0], {1, 0}); }),
      zero_size("expand [2^40, 0, 1] to [2^40, 0, 7]", {{kBig, 0, 1}}, {kBig, 0, 7},
                [](const auto& in) { return expand(in[0], {kBig, 0, 7}); }),
      // --- losses: PyTorch returns NaN for a mean over no rows; tapegrad throws, as for a mask
      //     that selects nothing (a NaN loss would poison every parameter silently)
      throws("cross_entropy [0,5]", "zero-size", Expect::invalid_argument, "cross_entropy",
             [] { cross_entropy(Tensor::zeros({0, 5}, tg::kFloat32, true), ids_of_shape({0})); }),
      throws("cross_entropy [3,0] (no classes)", "zero-size", Expect::invalid_argument, "cross_entropy",
             [] { cross_entropy(Tensor::zeros({3, 0}, tg::kFloat32, true), IdTensor{0, 0, 0}); }),
      throws("cross_entropy masked, [0,5]", "zero-size", Expect::invalid_argument, "cross_entropy",
             [] { cross_entropy(Tensor::zeros({0, 5}, tg::kFloat32, true), ids_of_shape({0}), ids_of_shape({0})); }),
      throws("cross_entropy [2,0,5]", "zero-size", Expect::invalid_argument, "[2, 0, 5]",
             [] { cross_entropy(Tensor::zeros({2, 0, 5}, tg::kFloat32, true), ids_of_shape({2, 0})); }),
      throws("mse of empty tensors", "zero-size", Expect::invalid_argument, "mse",
             [] { mse(Tensor::zeros({0, 3}, tg::kFloat32, true), Tensor::zeros({0, 3})); }),
  };
  return t;
}

// Layers with B = 0 (empty outputs, as PyTorch) and T = 0 (an error, as PyTorch's RNNs).
template <class Layer>
Built layer_case(std::shared_ptr<Layer> layer, Shape x_shape, std::function<tg::Tensor(const Layer&, const tg::Tensor&)> fwd) {
  Built b;
  b.inputs.push_back(tgtest::param(x_shape));
  for (const auto& p : layer->parameters()) b.inputs.push_back(p);
  b.f = [layer, fwd](const std::vector<Tensor>& in) { return fwd(*layer, in[0]); };
  return b;
}

tg::Tensor cell_output(const tg::Cell& c, const tg::Tensor& x) {
  const auto s = c.forward(x, c.initial_state(x.shape()[0]));
  return s.size() == 1 ? s[0] : tg::concat(s, 1);
}

tg::Tensor recurrent_output(const tg::Recurrent& l, const tg::Tensor& x) {
  const auto out = l.forward(x);
  for (const auto& s : out.states)
    for (const auto& t : s) CHECK(t.shape() == Shape{x.shape()[1], l.hidden_size()});
  return out.output;
}

std::vector<Row> layer_rows() {
  using namespace tg;
  using L = Linear;
  std::vector<Row> t = {
      built("Linear on [0,3]", {0, 2}, [] {
        tg::manual_seed(11);
        return layer_case<L>(tgtest::to_f64(std::make_shared<L>(3, 2)), {0, 3}, [](const L& l, const tg::Tensor& x) { return l.forward(x); });
      }),
      built("Linear on [2,0,3]", {2, 0, 2}, [] {
        tg::manual_seed(12);
        return layer_case<L>(tgtest::to_f64(std::make_shared<L>(3, 2)), {2, 0, 3}, [](const L& l, const tg::Tensor& x) { return l.forward(x); });
      }),
      built("Embedding with 0 ids", {0, 3}, [] {
        auto e = tgtest::to_f64(std::make_shared<Embedding>(5, 3));
        return Built{e->parameters(), [e](const std::vector<Tensor>&) { return e->forward(ids_of_shape({0})); }};
      }),
      built("Dropout module on [0,4]", {0, 4}, [] {
        auto d = tgtest::to_f64(std::make_shared<Dropout>(0.3));
        return Built{{tgtest::param({0, 4})}, [d](const std::vector<Tensor>& in) { return d->forward(in[0]); }};
      }),
      built("RNNCell with B = 0", {0, 4}, [] {
        return layer_case<Cell>(tgtest::to_f64(std::make_shared<RNNCell>(3, 4)), {0, 3}, cell_output);
      }),
      built("LSTMCell with B = 0", {0, 8}, [] {
        return layer_case<Cell>(tgtest::to_f64(std::make_shared<LSTMCell>(3, 4)), {0, 3}, cell_output);
      }),
      built("GRUCell with B = 0", {0, 4}, [] {
        return layer_case<Cell>(tgtest::to_f64(std::make_shared<GRUCell>(3, 4)), {0, 3}, cell_output);
      }),
      built("LayerNormLSTMCell with B = 0", {0, 8}, [] {
        return layer_case<Cell>(tgtest::to_f64(std::make_shared<LayerNormLSTMCell>(3, 4)), {0, 3}, cell_output);
      }),
      built("RNN with B = 0", {5, 0, 4}, [] {
        return layer_case<Recurrent>(tgtest::to_f64(std::make_shared<RNN>(3, 4)), {5, 0, 3}, recurrent_output);
      }),
      built("LSTM, 2 layers, bidirectional, with B = 0", {5, 0, 8}, [] {
        return layer_case<Recurrent>(
            tgtest::to_f64(std::make_shared<LSTM>(LSTMOptions(3, 4).num_layers(2).bidirectional(true))), {5, 0, 3}, recurrent_output);
      }),
      built("GRU with B = 0 and inter-layer dropout", {2, 0, 4}, [] {
        return layer_case<Recurrent>(
            tgtest::to_f64(std::make_shared<GRU>(GRUOptions(3, 4).num_layers(2).dropout(0.5))), {2, 0, 3}, recurrent_output);
      }),
      built("GRU with B = 0 and a mask of 0 streams", {3, 0, 4}, [] {
        auto l = tgtest::to_f64(std::make_shared<GRU>(3, 4));
        auto mask = std::make_shared<SequenceMask>(std::vector<std::size_t>{}, 3);
        Built b;
        b.inputs = {tgtest::param({3, 0, 3})};
        for (const auto& p : l->parameters()) b.inputs.push_back(p);
        b.f = [l, mask](const std::vector<Tensor>& in) { return l->forward(in[0], *mask).output; };
        return b;
      }),
      built("run_cell over 3 steps of B = 0", {0, 4}, [] {
        auto c = tgtest::to_f64(std::make_shared<LSTMCell>(3, 4));
        Built b;
        b.inputs = {tgtest::param({0, 3})};
        for (const auto& p : c->parameters()) b.inputs.push_back(p);
        b.f = [c](const std::vector<Tensor>& in) { return run_cell(*c, in[0], 3, c->initial_state(0)).outputs; };
        return b;
      }),
      built("TBPTT over a block of B = 0", {4, 0, 4}, [] {
        auto l = tgtest::to_f64(std::make_shared<LSTM>(3, 4));
        Built b;
        b.inputs = {tgtest::param({4, 0, 3})};
        for (const auto& p : l->parameters()) b.inputs.push_back(p);
        b.f = [l](const std::vector<Tensor>& in) {
          TBPTT tb(*l, 4);
          return tb.forward(in[0]).output;
        };
        return b;
      }),
      throws("LSTM with T = 0", "zero-size", Expect::invalid_argument, "T = 0",
             [] { LSTM(3, 4).forward(Tensor::zeros({0, 2, 3}, tg::kFloat32, true)); }),
      throws("GRU with T = 0 and B = 0", "zero-size", Expect::invalid_argument, "Recurrent",
             [] { GRU(3, 4).forward(Tensor::zeros({0, 0, 3}, tg::kFloat32, true)); }),
      throws("run_cell with 0 steps", "zero-size", Expect::invalid_argument, "run_cell",
             [] {
               RNNCell c(3, 4);
               run_cell(c, Tensor::zeros({0, 3}, tg::kFloat32, true), 0, c.initial_state(0));
             }),
      throws("TBPTT with a block of T = 0", "zero-size", Expect::invalid_argument, "TBPTT",
             [] {
               GRU l(3, 4);
               TBPTT tb(l, 4);
               tb.forward(Tensor::zeros({0, 2, 3}, tg::kFloat32, true));
             }),
  };
  return t;
}

// ---------------------------------------------------------------------------------------------
// Shapes whose element or byte count overflows: std::invalid_argument naming the op, before
// anything is allocated or computed.

constexpr std::size_t kHalf = std::size_t(1) << 32;  // kHalf * kHalf wraps to 0
constexpr std::size_t kMax = std::numeric_limits<std::size_t>::max();

// (param and constant check their xarray's shape too, but xtensor cannot build an xarray of an
// overflowing shape without signed overflow in its own strides, so no row hands them one.)

std::vector<Row> overflow_rows() {
  using namespace tg;
  const auto I = Expect::invalid_argument;
  const char* o = "overflow";
  std::vector<Row> t = {
      throws("zeros [2^32, 2^32]", o, I, "zeros", [] { Tensor::zeros({kHalf, kHalf}); }),
      throws("zeros: the message names the shape", o, I, "[4294967296, 4294967296]", [] { Tensor::zeros({kHalf, kHalf}); }),
      throws("zeros [SIZE_MAX, 2]", o, I, "zeros", [] { Tensor::zeros({kMax, 2}); }),
      throws("zeros [2^62] floats: the byte count overflows", o, I, "zeros", [] { Tensor::zeros({std::size_t(1) << 62}); }),
      throws("zeros [2^60] doubles: bytes past PTRDIFF_MAX", o, I, "bytes", [] { tg::Tensor::zeros({std::size_t(1) << 60}, tg::kFloat64); }),
      throws("zeros [0, 2^40, 2^40] (empty, but no layout fits)", o, I, "zeros", [] { Tensor::zeros({0, kBig, kBig}); }),
      throws("full [2^32, 2^32]", o, I, "full", [] { Tensor::full({kHalf, kHalf}, 1.f, tg::kFloat32, true); }),
      throws("full [3, SIZE_MAX]", o, I, "full", [] { tg::Tensor::full({3, kMax}, 1.0, tg::kFloat64); }),
      throws("full [2^31, 2^31, 2]: elements past PTRDIFF_MAX", o, I, "full",
             [] { Tensor::full({kHalf / 2, kHalf / 2, 2}, 0.f); }),
      throws("randn [0, 2^40, 2^40]", o, I, "randn", [] { randn<double>({0, kBig, kBig}); }),
      throws("uniform [2^61] doubles: the bytes overflow", o, I, "uniform",
             [] { uniform<double>({std::size_t(1) << 61}, 0.0, 1.0); }),
      throws("randn [2^32, 2^32]", o, I, "randn", [] { randn<float>({kHalf, kHalf}); }),
      throws("uniform [2^62, 4]", o, I, "uniform", [] { uniform<double>({std::size_t(1) << 62, 4}, 0.0, 1.0); }),
      throws("rand [SIZE_MAX] (the bytes overflow)", o, I, "uniform", [] { rand<float>({kMax}); }),
      throws("reshape [0] to [2^32, 2^32] (the count wraps to 0)", o, I, "reshape",
             [] { reshape(Tensor::zeros({0}, tg::kFloat32, true), {kHalf, kHalf}); }),
      throws("reshape [0] to [0, 2^40, 2^40]", o, I, "reshape", [] { reshape(Tensor::zeros({0}, tg::kFloat32, true), {0, kBig, kBig}); }),
      throws("add: broadcast result [2^32, 0, 2^32]", o, I, "add",
             [] { add(Tensor::zeros({kHalf, 0, 1}, tg::kFloat32, true), Tensor::zeros({0, kHalf})); }),
      throws("mul: broadcast result names both shapes", o, I, "[0, 4294967296]",
             [] { mul(Tensor::zeros({kHalf, 0, 1}, tg::kFloat32, true), Tensor::zeros({0, kHalf})); }),
      throws("matmul [2^32, 0] x [0, 2^32]", o, I, "matmul",
             [] { matmul(Tensor::zeros({kHalf, 0}, tg::kFloat32, true), Tensor::zeros({0, kHalf}, tg::kFloat32, true)); }),
      throws("linear [2^32, 0] with weight [2^32, 0]", o, I, "linear",
             [] { linear(Tensor::zeros({kHalf, 0}, tg::kFloat32, true), Tensor::zeros({kHalf, 0}, tg::kFloat32, true)); }),
      throws("concat: the total along the axis wraps around", o, I, "concat",
             [] {
               const auto p = Tensor::zeros({0, std::size_t(1) << 62}, tg::kFloat32, true);
               concat(std::vector<Tensor>{p, p, p, p}, 1);
             }),
      throws("concat: the total is past PTRDIFF_MAX", o, I, "concat",
             [] {
               const auto p = Tensor::zeros({0, std::size_t(1) << 62}, tg::kFloat32, true);
               concat(std::vector<Tensor>{p, p}, 1);
             }),
      throws("split: the sizes wrap around to the axis' size", o, I, "split",
             [] { split(Tensor::zeros({3}, tg::kFloat32, true), {kMax, 4}, 0); }),
      throws("chunk: SIZE_MAX empty pieces", o, I, "chunk", [] { chunk(Tensor::zeros({0}, tg::kFloat32, true), kMax, 0); }),
      throws("embedding: ids [0, 2^62] of an 8-wide weight", o, I, "embedding",
             [] { embedding(Tensor::zeros({4, 8}, tg::kFloat32, true), ids_of_shape({0, std::size_t(1) << 62})); }),
      throws("sum axis 0 of [0, 2^31, 2^31]: the result's bytes", o, I, "sum",
             [] { sum(Tensor::zeros({0, kHalf / 2, kHalf / 2}, tg::kFloat32, true), 0); }),
      throws("gemm: a size past BLAS's int range is refused, not truncated", o, I, "gemm",
             [] {
               float a = 1, b = 1, c = 0;  // never read: the sizes are checked first
               tg::detail::gemm(false, false, 1, 1, std::size_t(INT_MAX) + 2, 1.f, &a, 1, &b, 1, 0.f, &c, 1);
             }),
  };
  return t;
}

// ---------------------------------------------------------------------------------------------
// Absurd allocations: std::bad_alloc naming the op, the buffer pool unchanged, the tape usable.
// 2^50 bytes and up: past any machine's memory and past the 47-bit user address space.

std::vector<Row> allocation_rows() {
  using namespace tg;
  const auto A = Expect::bad_alloc;
  const char* k = "allocation";
  std::vector<Row> t = {
      throws("zeros [2^40, 2^10]", k, A, "zeros", [] { Tensor::zeros({kBig, 1u << 10}); }, true),
      throws("zeros: the message gives the byte count", k, A, "4503599627370496 bytes",
             [] { Tensor::zeros({kBig, 1u << 10}); }, true),
      throws("full [2^48] doubles", k, A, "full", [] { tg::Tensor::full({std::size_t(1) << 48}, 2.0, tg::kFloat64, true); }, true),
      throws("randn [2^48]", k, A, "randn", [] { randn<float>({std::size_t(1) << 48}); }, true),
      throws("uniform [2^48]", k, A, "uniform", [] { uniform<double>({std::size_t(1) << 48}, 0.0, 1.0); }, true),
      throws("matmul [2^24, 0] x [0, 2^24]", k, A, "matmul",
             [] { matmul(Tensor::zeros({1u << 24, 0}, tg::kFloat32, true), Tensor::zeros({0, 1u << 24}, tg::kFloat32, true)); }, true),
      throws("linear [2^24, 0] with weight [2^24, 0]", k, A, "linear",
             [] { linear(Tensor::zeros({1u << 24, 0}, tg::kFloat32, true), Tensor::zeros({1u << 24, 0}, tg::kFloat32, true)); }, true),
      throws("add: broadcast [2^23, 1] + [1, 2^23]", k, A, "add",
             [] { add(Tensor::zeros({1u << 23, 1}, tg::kFloat32, true), Tensor::zeros({1, 1u << 23})); }, true),
      throws("sum axis 1 of [2^48, 0]", k, A, "sum", [] { sum(Tensor::zeros({std::size_t(1) << 48, 0}, tg::kFloat32, true), 1); }, true),
      throws("mean axis 1 of [2^48, 0]", k, A, "mean", [] { mean(Tensor::zeros({std::size_t(1) << 48, 0}, tg::kFloat32, true), 1); }, true),
  };
  return t;
}

// ---------------------------------------------------------------------------------------------
// Thread counts: capped at the cores this process may run on.

int cores_available() {
  int cores = 0;
  const unsigned hc = std::thread::hardware_concurrency();
  if (hc > 0) cores = int(hc);
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0 && (cores == 0 || n < cores)) cores = n;
  }
  return cores;
}

Row threads_row(std::string name, int n, int expected) {
  return {std::move(name), "threads", Expect::succeeds, "", Shape{std::size_t(expected)}, [n] {
            tg::set_num_threads(n);
            const int got = tg::get_num_threads();
            // BLAS still multiplies right with the capped count.
            const auto a = Tensor::constant(xt::xarray<float>{{1.f, 2.f}, {3.f, 4.f}});
            const auto p = tg::matmul(a, a);
            CHECK(p.data<float>()[0] == 7.f);
            CHECK(p.data<float>()[3] == 22.f);
            tg::set_num_threads(1);
            return Shape{std::size_t(got)};
          }};
}

std::vector<Row> thread_rows() {
  const int cores = cores_available();
  REQUIRE(cores > 0);
  const auto I = Expect::invalid_argument;
  return {
      threads_row("set_num_threads(1)", 1, 1),
      threads_row("set_num_threads(cores)", cores, cores),
      threads_row("set_num_threads(cores + 1) is capped", cores + 1, cores),
      threads_row("set_num_threads(1000) is capped", 1000, cores),
      threads_row("set_num_threads(INT_MAX) is capped", INT_MAX, cores),
      throws("set_num_threads(0)", "threads", I, "set_num_threads", [] { tg::set_num_threads(0); }),
      throws("set_num_threads(-1)", "threads", I, "set_num_threads", [] { tg::set_num_threads(-1); }),
      throws("set_num_threads(INT_MIN)", "threads", I, "set_num_threads", [] { tg::set_num_threads(INT_MIN); }),
  };
}

// ---------------------------------------------------------------------------------------------

bool same_pool(const tg::MemoryStats& a, const tg::MemoryStats& b) {
  return a.live_bytes == b.live_bytes && a.live_buffers == b.live_buffers && a.pooled_bytes == b.pooled_bytes &&
         a.pooled_buffers == b.pooled_buffers && a.system_allocations == b.system_allocations;
}

void check_row(const Row& r) {
  const std::string label = std::string(r.kind) + ": " + r.name;
  CAPTURE(label);
  if (r.huge_memory && TG_TEST_ASAN) {
    MESSAGE("skipped under AddressSanitizer (its allocator aborts on terabyte requests): " << label);
    return;
  }
  tg::clear_tape();
  const tg::MemoryStats before = tg::memory_stats();
  std::string what;
  bool threw = false, right_type = false;
  Shape got;
  try {
    got = r.call();
  } catch (const std::out_of_range& e) {
    threw = true, what = e.what(), right_type = r.expect == Expect::out_of_range;
  } catch (const std::invalid_argument& e) {
    threw = true, what = e.what(), right_type = r.expect == Expect::invalid_argument;
  } catch (const std::length_error& e) {
    threw = true, what = std::string("std::length_error: ") + e.what();
  } catch (const std::bad_alloc& e) {
    threw = true, what = e.what(), right_type = r.expect == Expect::bad_alloc;
  } catch (const std::exception& e) {
    threw = true, what = std::string("other std::exception: ") + e.what();
  }
  CAPTURE(what);
  if (r.expect == Expect::succeeds) {
    CHECK_MESSAGE(!threw, "expected success, got an exception");
    CHECK_MESSAGE(got == r.shape, "result shape " << tg::to_string(got) << ", expected " << tg::to_string(r.shape));
  } else {
    CHECK_MESSAGE(threw, "expected " << std::string(expect_name(r.expect)) << ", nothing was thrown");
    CHECK_MESSAGE(right_type, "expected " << std::string(expect_name(r.expect)));
    CHECK_MESSAGE(what.find(r.named) != std::string::npos, "the message should contain '" << std::string(r.named) << "'");
    // Nothing was recorded, and nothing is left allocated (a failed allocation leaks nothing
    // and counts nothing as live).
    CHECK(tg::tape_stats().nodes == 0);
    CHECK(tg::memory_stats().live_bytes == before.live_bytes);
    CHECK(tg::memory_stats().live_buffers == before.live_buffers);
  }
  tg::clear_tape();
  tgtest::check_tape_works();
}

void run_table(const std::vector<Row>& rows) {
  for (const auto& r : rows) check_row(r);
}

}  // namespace

TEST_CASE("hostile api: zero-size axes in every op, forward and backward") {
  tg::manual_seed(101);
  run_table(zero_size_rows());
}

TEST_CASE("hostile api: zero-size batches in the layers run, zero-length sequences are an error") {
  tg::manual_seed(102);
  run_table(layer_rows());
}

TEST_CASE("hostile api: shapes whose element or byte count overflows") {
  run_table(overflow_rows());
}

TEST_CASE("hostile api: absurd allocations throw std::bad_alloc and leave the pool consistent") {
  run_table(allocation_rows());
}

TEST_CASE("hostile api: the buffer pool hands out its blocks again after a failed allocation") {
  if (TG_TEST_ASAN) {
    MESSAGE("skipped under AddressSanitizer (its allocator aborts on terabyte requests)");
    return;
  }
  tg::release_pooled_memory();
  { auto a = Tensor::zeros({64, 64}); }  // one pooled block of 16 KiB
  const tg::MemoryStats pooled = tg::memory_stats();
  REQUIRE(pooled.pooled_buffers >= 1);
  CHECK_THROWS_AS(Tensor::zeros({kBig, 1u << 10}), std::bad_alloc);
  CHECK(same_pool(pooled, tg::memory_stats()));
  auto b = Tensor::full({64, 64}, 2.f);  // the pooled block, not a new one
  CHECK(tg::memory_stats().system_allocations == pooled.system_allocations);
  CHECK(b.data<float>()[64 * 64 - 1] == 2.f);
}

TEST_CASE("hostile api: thread counts are capped at the available cores") {
  run_table(thread_rows());
  tg::set_num_threads(1);
}

TEST_CASE("hostile api: gradcheck of the ops whose zero-size paths changed, on ordinary shapes") {
  tg::manual_seed(103);
  const auto f_sum0 = [](const std::vector<Tensor>& in) { return tg::sum(in[0], 0); };
  const auto f_mean1 = [](const std::vector<Tensor>& in) { return tg::mean(in[0], 1, true); };
  const auto f_mean = [](const std::vector<Tensor>& in) { return tg::mean(in[0]); };
  const auto f_ln = [](const std::vector<Tensor>& in) { return tg::layer_norm(in[0], in[1], in[2]); };
  const auto f_sm = [](const std::vector<Tensor>& in) { return tg::softmax(in[0], 0); };
  const auto f_lsm = [](const std::vector<Tensor>& in) { return tg::log_softmax(in[0], -1); };
  const auto f_tr = [](const std::vector<Tensor>& in) { return tg::transpose(in[0]); };
  const auto f_cat = [](const std::vector<Tensor>& in) { return tg::concat(in, 1); };
  CHECK_GRADCHECK(f_sum0, {tgtest::param({3, 4})});
  CHECK_GRADCHECK(f_mean1, {tgtest::param({3, 4})});
  CHECK_GRADCHECK(f_mean, {tgtest::param({2, 3, 2})});
  CHECK_GRADCHECK(f_ln, (std::vector<Tensor>{tgtest::param({3, 5}), tgtest::param({5}), tgtest::param({5})}));
  CHECK_GRADCHECK(f_sm, {tgtest::param({4, 3})});
  CHECK_GRADCHECK(f_lsm, {tgtest::param({4, 3})});
  CHECK_GRADCHECK(f_tr, {tgtest::param({3, 2})});
  CHECK_GRADCHECK(f_cat, (std::vector<Tensor>{tgtest::param({2, 3}), tgtest::param({2, 1}), tgtest::param({2, 2})}));
}

TEST_CASE("hostile api: the tables cover every class") {
  std::map<std::string, std::size_t> per_kind;
  for (const auto& table : {zero_size_rows(), layer_rows(), overflow_rows(), allocation_rows(), thread_rows()})
    for (const auto& r : table) per_kind[r.kind] += 1;
  std::string summary;
  for (const auto& [kind, n] : per_kind) summary += kind + " " + std::to_string(n) + ", ";
  MESSAGE("hostile-api rows: " << summary);
  CHECK(per_kind["zero-size"] >= 100);
  CHECK(per_kind["overflow"] >= 25);
  CHECK(per_kind["allocation"] >= 10);
  CHECK(per_kind["threads"] >= 8);
}
