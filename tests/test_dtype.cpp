// Note [dtypes]: one Tensor type whose dtype (float32 or float64) is chosen at run time.
// Factories, typed access, conversion with to(), and the errors of mixing dtypes.
#include <cmath>
#include <limits>

#include "op_checks.hpp"

using tg::Tensor;

TEST_CASE("dtype: factories take it from the values or an argument; float32 is the default") {
  CHECK(Tensor::param(xt::xarray<float>{1.f, 2.f}).dtype() == tg::kFloat32);
  CHECK(Tensor::param(xt::xarray<double>{1.0, 2.0}).dtype() == tg::kFloat64);
  // An xtensor expression keeps its element type.
  CHECK(Tensor::constant(xt::ones<double>({2, 3}) * 2.0).dtype() == tg::kFloat64);
  CHECK(Tensor::zeros({2}).dtype() == tg::kFloat32);
  const Tensor z = Tensor::zeros({2, 3}, tg::kFloat64, true);
  CHECK(z.dtype() == tg::kFloat64);
  CHECK(z.requires_grad());
  CHECK(Tensor::full({4}, 0.25, tg::kFloat64).value<double>()(3) == 0.25);
  CHECK(Tensor::scalar(1.5, tg::kFloat64).item() == 1.5);
  CHECK(std::string(tg::dtype_name(tg::kFloat32)) == "float32");
  CHECK(tg::dtype_size(tg::kFloat64) == 8);
}

TEST_CASE("dtype: typed access names the element type; another is an error naming both") {
  Tensor x = Tensor::param(xt::xarray<double>{1.0, 2.0, 3.0});
  x.set_name("w");
  CHECK(x.data<double>()[2] == 3.0);
  tgtest::check_error<std::invalid_argument>([&] { (void)x.data<float>(); }, {"data<float>", "'w'", "float64", "float32"});
  tgtest::check_error<std::invalid_argument>([&] { (void)x.mutable_data<float>(); }, {"mutable_data<float>", "float64"});
  tgtest::check_error<std::invalid_argument>([&] { (void)x.grad_data<float>(); }, {"grad_data<float>", "float64"});
  tgtest::check_error<std::invalid_argument>([&] { (void)x.value<float>(); }, {"data<float>", "float64"});
  // A refused write is not a write: the version stays.
  CHECK(x.version() == 0);
  // to_xarray<T> converts (a copy), so reading a float64 tensor as float is explicit.
  const xt::xarray<float> as_float = x.to_xarray<float>();
  CHECK(as_float(1) == 2.0f);
}

TEST_CASE("dtype: two dtypes in one op is std::invalid_argument naming the op and both") {
  const Tensor f = Tensor::param(xt::xarray<float>{1.f, 2.f});
  const Tensor d = Tensor::param(xt::xarray<double>{1.0, 2.0});
  tgtest::check_error<std::invalid_argument>([&] { (void)(f + d); }, {"add", "float32", "float64"});
  tgtest::check_error<std::invalid_argument>([&] { (void)tg::concat({f, d}, 0); }, {"concat", "float32", "float64"});
  const Tensor w = Tensor::param(xt::xarray<double>::from_shape({3, 2}));
  tgtest::check_error<std::invalid_argument>([&] { (void)tg::linear(Tensor::zeros({4, 2}), w); },
                                             {"linear", "float32", "float64"});
  // An undefined optional input (bias) does not take part.
  CHECK(tg::linear(Tensor::zeros({4, 2}, tg::kFloat64), w, Tensor()).dtype() == tg::kFloat64);
  // The backward seed has the output's dtype.
  const Tensor y = tg::tanh(d);
  tgtest::check_error<std::invalid_argument>([&] { Tensor(y).backward(Tensor::zeros({2})); },
                                             {"backward", "seed", "float32", "float64"});
  tg::clear_tape();
}

TEST_CASE("dtype: every op computes in its inputs' dtype") {
  for (tg::Dtype dt : {tg::kFloat32, tg::kFloat64}) {
    CAPTURE(tg::dtype_name(dt));
    const Tensor x = Tensor::full({2, 3}, 0.5, dt, true);
    const Tensor w = Tensor::full({4, 3}, 0.25, dt, true);
    const Tensor y = tg::softmax(tg::linear(x, w) * 2.0 + 1.0);
    CHECK(y.dtype() == dt);
    tg::sum(tg::square(y)).backward();
    CHECK(x.grad().dtype() == dt);
    CHECK(w.grad().dtype() == dt);
  }
}

TEST_CASE("to(dtype): a converted copy whose gradient converts back, gradchecked") {
  const Tensor f = Tensor::param(xt::xarray<float>{0.5f, -1.25f});
  CHECK(f.to(tg::kFloat32).is_same(f));  // already that dtype: itself
  const Tensor d = f.to(tg::kFloat64);
  CHECK(d.dtype() == tg::kFloat64);
  CHECK(d.producer_op() == std::string("to_dtype"));
  CHECK(d.value<double>()(1) == -1.25);
  tg::sum(d * d).backward();  // the gradient reaches the float32 leaf as float32
  CHECK(f.grad().dtype() == tg::kFloat32);
  CHECK(f.grad().value<float>()(0) == 1.0f);
  CHECK(f.grad().value<float>()(1) == -2.5f);

  // float64 -> float32 -> float64 loses precision, so the gradcheck runs through two
  // conversions of exactly representable values scaled by the op after it.
  const Tensor x = Tensor::param(xt::xarray<double>{0.5, -0.75, 1.5});
  CHECK_GRADCHECK([](const std::vector<Tensor>& in) { return tg::tanh(in[0].to(tg::kFloat64)) * 3.0; },
                  std::vector<Tensor>{x});
  const Tensor back = x.to(tg::kFloat32).to(tg::kFloat64);
  tg::sum(back * 3.0).backward();
  CHECK(x.grad().value<double>() == xt::xarray<double>{3.0, 3.0, 3.0});
}

TEST_CASE("gradcheck: runs in float64 and says so for a float32 input or output") {
  const Tensor f = Tensor::param(xt::xarray<float>{1.f, 2.f});
  tgtest::check_error<std::invalid_argument>(
      [&] { tg::gradcheck([](const std::vector<Tensor>& in) { return tg::tanh(in[0]); }, std::vector<Tensor>{f}); },
      {"gradcheck", "input 0", "float32", "float64"});
  const Tensor d = Tensor::param(xt::xarray<double>{1.0, 2.0});
  tgtest::check_error<std::invalid_argument>(
      [&] { tg::gradcheck([](const std::vector<Tensor>& in) { return in[0].to(tg::kFloat32); }, std::vector<Tensor>{d}); },
      {"gradcheck", "returned a float32"});
}
