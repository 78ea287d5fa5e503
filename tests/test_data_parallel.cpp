// tg::DataParallel (optim/data_parallel.hpp): shards of a batch trained at once on the pool's
// threads, each by a replica of the model, average to the whole batch's gradient; replicas read
// the model's values; bad bindings and failing shards are reported.
#include <stdexcept>
#include <vector>

#include "test_helpers.hpp"

using tg::Tensor;

using tgtest::with_threads;

namespace {

// An LSTM over [T, B, 3] and a linear read-out of its last output: float64, from seed 5.
struct Model {
  tg::LSTM lstm{tg::LSTMOptions(3, 4)};
  tg::Linear head{4, 2};
  Model() {
    lstm.to(tg::kFloat64);
    head.to(tg::kFloat64);
  }
  std::vector<Tensor> parameters() const {
    std::vector<Tensor> p = lstm.parameters();
    for (const Tensor& q : head.parameters()) p.push_back(q);
    return p;
  }
  // The mean over the batch of the squared outputs, on streams [first, first + count).
  Tensor loss(const xt::xarray<double>& x, std::size_t first, std::size_t count) const {
    const xt::xarray<double> shard = xt::view(x, xt::all(), xt::range(first, first + count), xt::all());
    const Tensor out = lstm(Tensor::constant(shard)).output;  // [T, count, 4]
    const Tensor last = tg::reshape(tg::slice(out, 0, out.shape()[0] - 1, 1), {count, 4});
    return tg::mean(tg::square(head(last)));
  }
};

Model seeded_model() {
  tg::manual_seed(5);
  return Model();
}

std::vector<xt::xarray<double>> grads_of(const std::vector<Tensor>& params) {
  std::vector<xt::xarray<double>> g;
  for (const Tensor& p : params) g.push_back(p.grad().value<double>());
  return g;
}

}  // namespace

TEST_CASE("the mean of two shards' gradients is the whole batch's, at one and two threads") {
  tg::manual_seed(6);
  const xt::xarray<double> x = tg::uniform<double>({5, 4, 3}, -1.0, 1.0);  // [T, B, I]
  Model whole = seeded_model();
  whole.loss(x, 0, 4).backward();
  const auto expected = grads_of(whole.parameters());
  for (int threads : {1, 2}) {
    CAPTURE(threads);
    Model model = seeded_model(), replica = seeded_model();
    tg::DataParallel dp(model.parameters(), {replica.parameters()});
    CHECK(dp.shards() == 2);
    std::vector<std::vector<xt::xarray<double>>> runs;
    for (int r = 0; r < 2; ++r) {  // twice: the same bits both times
      for (Tensor p : model.parameters()) p.zero_grad();
      with_threads(threads, [&] {
        dp.run([&](std::size_t s) { (s == 0 ? model : replica).loss(x, 2 * s, 2).backward(); });
      });
      runs.push_back(grads_of(model.parameters()));
    }
    for (std::size_t k = 0; k < expected.size(); ++k) {
      CHECK(xt::allclose(runs[0][k], expected[k], 1e-12, 1e-14));
      CHECK(runs[0][k] == runs[1][k]);
    }
    for (const Tensor& q : replica.parameters())  // zeroed for the next run, not released
      CHECK(xt::amax(xt::abs(q.grad().value<double>()))() == 0.0);
  }
}

TEST_CASE("a gradient the parameters already hold is kept, and replicas read the model's values") {
  tg::manual_seed(7);
  const xt::xarray<double> x = tg::uniform<double>({3, 2, 3}, -1.0, 1.0);
  Model model = seeded_model(), replica = seeded_model();
  tg::DataParallel dp(model.parameters(), {replica.parameters()});
  model.loss(x, 0, 2).backward();  // G, already there
  const auto before = grads_of(model.parameters());
  dp.run([&](std::size_t s) { (s == 0 ? model : replica).loss(x, s, 1).backward(); });
  Model whole = seeded_model();
  whole.loss(x, 0, 2).backward();
  const auto mean = grads_of(whole.parameters());
  const auto after = grads_of(model.parameters());
  for (std::size_t k = 0; k < after.size(); ++k) CHECK(xt::allclose(after[k], before[k] + mean[k], 1e-12, 1e-14));

  tg::SGD sgd(model.parameters(), tg::SGDOptions(0.5));
  sgd.step();  // the replica sees the step: it reads the model's memory
  for (std::size_t k = 0; k < after.size(); ++k)
    CHECK(replica.parameters()[k].value<double>() == model.parameters()[k].value<double>());
}

TEST_CASE("DataParallel refuses replicas that do not match, a converted model, and reports a failing shard") {
  Model model = seeded_model();
  SUBCASE("another number of parameters") {
    std::vector<Tensor> fewer = seeded_model().parameters();
    fewer.pop_back();
    CHECK_THROWS_WITH_AS(tg::DataParallel(model.parameters(), {fewer}), doctest::Contains("replica 1 has"),
                         std::invalid_argument);
  }
  SUBCASE("a parameter of another shape") {
    tg::LSTM other(tg::LSTMOptions(3, 5));
    other.to(tg::kFloat64);
    std::vector<Tensor> params = other.parameters();
    for (const Tensor& q : model.head.parameters()) params.push_back(q);
    CHECK_THROWS_WITH_AS(tg::DataParallel(model.parameters(), {params}), doctest::Contains("replica 1, parameter 0"),
                         std::invalid_argument);
  }
  SUBCASE("the model's own parameters as a replica") {
    CHECK_THROWS_WITH_AS(tg::DataParallel(model.parameters(), {model.parameters()}),
                         doctest::Contains("not the model's"), std::invalid_argument);
  }
  SUBCASE("the model converted after binding") {
    Model replica = seeded_model();
    tg::DataParallel dp(model.parameters(), {replica.parameters()});
    model.lstm.to(tg::kFloat32);
    CHECK_THROWS_WITH_AS(dp.run([](std::size_t) {}), doctest::Contains("converted or replaced"), std::logic_error);
  }
  SUBCASE("a shard that throws") {
    Model replica = seeded_model();
    tg::DataParallel dp(model.parameters(), {replica.parameters()});
    const xt::xarray<double> x = tg::uniform<double>({2, 2, 3}, -1.0, 1.0);
    with_threads(2, [&] {
      CHECK_THROWS_WITH_AS(dp.run([&](std::size_t s) {
        if (s == 1) throw std::runtime_error("shard 1 failed");
        model.loss(x, 0, 1).backward();
      }), "shard 1 failed", std::runtime_error);
      for (Tensor p : model.parameters()) p.zero_grad();
      dp.run([&](std::size_t s) { (s == 0 ? model : replica).loss(x, s, 1).backward(); });  // works again
    });
    CHECK(xt::amax(xt::abs(model.head.parameters()[0].grad().value<double>()))() > 0.0);
  }
}
