// AttentionDecoderCell (layers/attention_decoder.cpp) and the cell-context extension of the
// sequence runner: gradchecks in float64 through run_cell with ragged target and source masks,
// the step against its formula, the same decoder written out in PyTorch (fixtures), stepping
// against the runner, and the errors.
#include <fstream>
#include <memory>
#include <vector>

#include "fixture_json.hpp"
#include "op_checks.hpp"

using tg::AttentionDecoderCell;
using tg::AttentionScore;
using tg::CellContext;
using tg::IdTensor;
using tg::Shape;
using tg::State;
using tg::Tensor;

using tgtest::check_close;
using tgtest::check_error;

namespace {

constexpr std::size_t T = 3, S = 4, B = 3, E = 2, H = 3, D = 3;

// Source lengths 4, 2 and 0 (stream 2 has nothing to attend to).
IdTensor ragged_source() {
  xt::xarray<std::int64_t> m = xt::zeros<std::int64_t>({S, B});
  for (std::size_t s = 0; s < S; ++s) {
    m(s, 0) = 1;
    m(s, 1) = s < 2;
  }
  return m;
}

std::shared_ptr<AttentionDecoderCell> make_cell(const std::string& inner, AttentionScore score, std::size_t memory = D) {
  std::unique_ptr<tg::Cell> c;
  if (inner == "lstm") c = std::make_unique<tg::LSTMCell>(E + memory, H);
  else c = std::make_unique<tg::GRUCell>(E + memory, H);
  return tgtest::to_f64(std::make_shared<AttentionDecoderCell>(std::move(c), memory, score));
}

}  // namespace

TEST_CASE("attention decoder: gradchecks through run_cell with ragged target and source masks, every score, LSTM and GRU") {
  tg::manual_seed(181);
  const tg::SequenceMask targets(std::vector<std::size_t>{3, 1, 2}, T);
  const IdTensor source = ragged_source();
  for (const char* inner : {"lstm", "gru"})
    for (AttentionScore score : {AttentionScore::dot, AttentionScore::general, AttentionScore::additive}) {
      CAPTURE(inner);
      CAPTURE(int(score));
      const auto cell = make_cell(inner, score);
      // inputs: x [T*B, E], memory [S, B, D], the inner cell's initial h (and c), then every weight
      std::vector<Tensor> inputs = {tgtest::param({T * B, E}), tgtest::param({S, B, D})};
      const std::size_t inner_states = cell->inner().state_size();
      for (std::size_t k = 0; k < inner_states; ++k) inputs.push_back(tgtest::param({B, H}));
      for (const Tensor& p : cell->parameters()) inputs.push_back(p);
      const tg::GradcheckFn f = [cell, targets, source, inner_states](const std::vector<Tensor>& in) {
        const State start = cell->initial_state_from(State(in.begin() + 2, in.begin() + 2 + inner_states));
        const tg::RunCellOptions options = tg::RunCellOptions().context(CellContext{{in[1]}, {source}});
        const tg::SequenceRun run = tg::run_cell(*cell, in[0], T, start, targets, options);
        const Tensor final_state = tg::concat(run.state, 1);  // [B, H + H (+ H) + D]
        return tg::concat({tg::reshape(run.outputs, {run.outputs.numel()}), tg::reshape(final_state, {final_state.numel()})}, 0);
      };
      CHECK_GRADCHECK(f, inputs);
    }
}

TEST_CASE("attention decoder: outputs, final state and every gradient match the decoder written out in PyTorch") {
  std::ifstream in(std::string(TAPEGRAD_FIXTURES_DIR) + "/attention_decoder.json");
  REQUIRE_MESSAGE(in.good(), "missing fixture attention_decoder.json (tests/fixtures/make_op_fixtures.py)");
  const nlohmann::json fixtures = nlohmann::json::parse(in);
  const auto load = [](const nlohmann::json& j) { return tgtest::load_array<double>(j); };
  std::size_t cases = 0;
  for (const auto& c : fixtures.at("cases")) {
    const std::string score_name = c.at("score");
    CAPTURE(score_name);
    const AttentionScore score = score_name == "dot"       ? AttentionScore::dot
                                 : score_name == "general" ? AttentionScore::general
                                                           : AttentionScore::additive;
    const auto E_ = c.at("input_size").get<std::size_t>(), H_ = c.at("hidden_size").get<std::size_t>();
    const auto D_ = c.at("memory_size").get<std::size_t>(), T_ = c.at("steps").get<std::size_t>();
    AttentionDecoderCell cell(std::make_unique<tg::LSTMCell>(E_ + D_, H_), D_, score);
    cell.to(tg::kFloat64);
    REQUIRE(cell.named_parameters().size() == c.at("params").size());
    for (auto& [name, p] : cell.named_parameters()) {
      REQUIRE_MESSAGE(c.at("params").contains(name), "the fixture has no parameter " << name);
      const xt::xarray<double> value = load(c.at("params").at(name));
      REQUIRE(Shape(value.shape()) == p.shape());
      std::copy(value.begin(), value.end(), p.mutable_data<double>());
    }
    const Tensor x = Tensor::param(load(c.at("x"))), memory = Tensor::param(load(c.at("memory")));
    const Tensor h0 = Tensor::param(load(c.at("h0"))), c0 = Tensor::param(load(c.at("c0")));
    const IdTensor source(tgtest::load_array<std::int64_t>(c.at("source_mask")));
    const tg::SequenceMask targets(c.at("target_lengths").get<std::vector<std::size_t>>(), T_);
    const tg::SequenceRun run = tg::run_cell(cell, x, T_, cell.initial_state_from({h0, c0}), targets,
                                             tg::RunCellOptions().context(CellContext{{memory}, {source}}));
    const Tensor final_state = tg::concat(run.state, 1);
    const Tensor result =
        tg::concat({tg::reshape(run.outputs, {run.outputs.numel()}), tg::reshape(final_state, {final_state.numel()})}, 0);
    check_close(result.to_xarray<double>(), load(c.at("result")), 1e-9);
    tg::sum(result * Tensor::constant(load(c.at("w")))).backward();
    check_close(x.grad().to_xarray<double>(), load(c.at("grad_x")), 1e-9);
    check_close(memory.grad().to_xarray<double>(), load(c.at("grad_memory")), 1e-9);
    check_close(h0.grad().to_xarray<double>(), load(c.at("grad_h0")), 1e-9);
    check_close(c0.grad().to_xarray<double>(), load(c.at("grad_c0")), 1e-9);
    for (const auto& [name, p] : cell.named_parameters()) {
      CAPTURE(name);
      check_close(p.grad().to_xarray<double>(), load(c.at("grads").at(name)), 1e-9);
    }
    ++cases;
  }
  CHECK(cases == 3);
}

TEST_CASE("attention decoder: one step is its formula: inner cell on [x ; previous context], attention, tanh(W_c [context ; h])") {
  tg::manual_seed(191);
  const auto cell = make_cell("lstm", AttentionScore::general);
  const Tensor x = tgtest::param({B, E}), memory = tgtest::param({S, B, D});
  const IdTensor source = ragged_source();
  State state = cell->initial_state_from({tgtest::param({B, H}), tgtest::param({B, H})});
  state.back() = tgtest::param({B, D});  // a non-zero previous context, so input feeding shows
  const tg::AttentionStep step = cell->step_with_weights(x, state, CellContext{{memory}, {source}});

  // The inner LSTM on [x ; previous context] gives h_t, c_t.
  const State inner = cell->inner()(tg::concat({x, state[3]}, 1), {state[1], state[2]});
  check_close(step.state[1].to_xarray<double>(), inner[0].to_xarray<double>());
  check_close(step.state[2].to_xarray<double>(), inner[1].to_xarray<double>());
  // Luong's general score h W m, softmax over the valid places, context = Σ w m, by loops.
  const xt::xarray<double> h = inner[0].to_xarray<double>(), m = memory.to_xarray<double>();
  const xt::xarray<double> W = cell->parameter("attention.weight").to_xarray<double>();
  const xt::xarray<double> Wc = cell->parameter("combine.weight").to_xarray<double>();
  const xt::xarray<double> bc = cell->parameter("combine.bias").to_xarray<double>();
  xt::xarray<double> weights = xt::zeros<double>({B, S}), context = xt::zeros<double>({B, D});
  xt::xarray<double> out = xt::zeros<double>({B, H});
  for (std::size_t b = 0; b < B; ++b) {
    double total = 0;
    for (std::size_t s = 0; s < S; ++s) {
      if (!source.array()(s, b)) continue;
      double score = 0;
      for (std::size_t i = 0; i < H; ++i)
        for (std::size_t j = 0; j < D; ++j) score += h(b, i) * W(i, j) * m(s, b, j);
      weights(b, s) = std::exp(score);
      total += weights(b, s);
    }
    for (std::size_t s = 0; s < S; ++s) {
      weights(b, s) = total > 0 ? weights(b, s) / total : 0.0;  // stream 2: no source, zero weights
      for (std::size_t j = 0; j < D; ++j) context(b, j) += weights(b, s) * m(s, b, j);
    }
    for (std::size_t o = 0; o < H; ++o) {
      double z = bc(o);
      for (std::size_t j = 0; j < D; ++j) z += Wc(o, j) * context(b, j);
      for (std::size_t i = 0; i < H; ++i) z += Wc(o, D + i) * h(b, i);
      out(b, o) = std::tanh(z);
    }
  }
  check_close(step.weights.to_xarray<double>(), weights);
  check_close(step.state[3].to_xarray<double>(), context);
  check_close(step.state[0].to_xarray<double>(), out);
  // step_in_context and forward(x, state, context) are the same step.
  const State via_forward = (*cell)(x, state, CellContext{{memory}, {source}});
  for (std::size_t k = 0; k < via_forward.size(); ++k) check_close(via_forward[k].to_xarray<double>(), step.state[k].to_xarray<double>());
}

TEST_CASE("attention decoder: teacher-forced run_cell equals stepping by hand, and a masked stream keeps its state") {
  tg::manual_seed(193);
  const auto cell = make_cell("gru", AttentionScore::additive);
  const Tensor x = tgtest::param({T * B, E}), memory = tgtest::param({S, B, D});
  const CellContext context{{memory}, {ragged_source()}};
  const State start = cell->initial_state_from({tgtest::param({B, H})});
  const tg::SequenceMask targets(std::vector<std::size_t>{3, 1, 3}, T);
  const tg::SequenceRun run = tg::run_cell(*cell, x, T, start, targets, tg::RunCellOptions().context(context));
  State state = start;
  State states_of_stream1;
  for (std::size_t t = 0; t < T; ++t) {
    state = (*cell)(tg::slice(x, 0, t * B, B), state, context);
    const xt::xarray<double> got = tg::slice(run.outputs, 0, t * B, B).to_xarray<double>();
    xt::xarray<double> want = state[0].to_xarray<double>();
    if (t >= 1) xt::view(want, 1, xt::all()) = 0.0;  // stream 1 ended after one step: zero outputs
    check_close(got, want);
    if (t == 0) states_of_stream1 = state;
  }
  for (std::size_t k = 0; k < run.state.size(); ++k) {
    const xt::xarray<double> final_k = run.state[k].to_xarray<double>(), stepped = state[k].to_xarray<double>();
    const xt::xarray<double> frozen = states_of_stream1[k].to_xarray<double>();
    CHECK(run.state[k].shape() == Shape{B, cell->state_width(k)});
    check_close(xt::xarray<double>(xt::view(final_k, 0, xt::all())), xt::xarray<double>(xt::view(stepped, 0, xt::all())));
    check_close(xt::xarray<double>(xt::view(final_k, 1, xt::all())), xt::xarray<double>(xt::view(frozen, 1, xt::all())));
  }
}

TEST_CASE("attention decoder: state layout, parameter names, train/eval and the unmasked memory") {
  const auto cell = make_cell("lstm", AttentionScore::additive, 5);
  CHECK(cell->input_size() == E);
  CHECK(cell->hidden_size() == H);
  CHECK(cell->state_size() == 4);  // out, h, c, context
  CHECK(cell->state_width(0) == H);
  CHECK(cell->state_width(1) == H);
  CHECK(cell->state_width(2) == H);
  CHECK(cell->state_width(3) == 5);
  const State zero = cell->initial_state(2);
  CHECK(zero.back().shape() == Shape{2, 5});
  std::vector<std::string> names;
  for (const auto& [name, p] : cell->named_parameters()) names.push_back(name);
  CHECK(names == std::vector<std::string>{"cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh",
                                          "attention.query_weight", "attention.key_weight", "attention.v",
                                          "combine.weight", "combine.bias"});
  cell->eval();
  CHECK_FALSE(cell->inner().is_training());
  // Without a mask every source place counts: the weights of each row sum to one.
  const tg::AttentionStep step = cell->step_with_weights(tgtest::param({2, E}), zero, CellContext{{tgtest::param({4, 2, 5})}, {}});
  check_close(tg::sum(step.weights, 1).to_xarray<double>(), xt::xarray<double>(xt::ones<double>({2})), 1e-12);
}

TEST_CASE("attention decoder: bad cells, contexts and states are clear errors naming what was wrong") {
  tg::manual_seed(197);
  const auto cell = make_cell("lstm", AttentionScore::general);
  const Tensor x = tgtest::param({B, E}), memory = tgtest::param({S, B, D});
  const State start = cell->initial_state(B);
  check_error<std::invalid_argument>([&] { cell->step(x, start); }, {"AttentionDecoderCell", "CellContext"});
  check_error<std::invalid_argument>([&] { (*cell)(x, start); }, {"AttentionDecoderCell", "CellContext"});
  check_error<std::invalid_argument>([&] { tg::run_cell(*cell, tgtest::param({T * B, E}), T, start); },
                                     {"AttentionDecoderCell", "CellContext"});
  check_error<std::invalid_argument>([&] { (*cell)(x, start, CellContext{{memory, memory}, {}}); },
                                     {"AttentionDecoderCell", "2 tensors"});
  check_error<std::invalid_argument>([&] { (*cell)(x, start, CellContext{{tgtest::param({S, B + 1, D})}, {}}); },
                                     {"AttentionDecoderCell", "memory must be [S, B, D] = [S, 3, 3]", "[4, 4, 3]"});
  check_error<std::invalid_argument>([&] { (*cell)(x, start, CellContext{{memory}, {IdTensor(xt::ones<std::int64_t>({B, S}))}}); },
                                     {"mask must be [S, B]"});
  State narrow = start;
  narrow.back() = tgtest::param({B, H + 1});
  check_error<std::invalid_argument>([&] { (*cell)(x, narrow, CellContext{{memory}, {}}); },
                                     {"AttentionDecoderCell", "state tensor 3", "[3, 3]", "[3, 4]"});
  // A plain cell refuses a context rather than ignore it.
  const tg::LSTMCell plain(E, H);
  check_error<std::invalid_argument>([&] { plain(x.to(tg::kFloat32), plain.initial_state(B), CellContext{{memory}, {}}); },
                                     {"LSTMCell", "reads no context"});
  check_error<std::invalid_argument>([&] { AttentionDecoderCell(std::make_unique<tg::GRUCell>(D, H), D); },
                                     {"AttentionDecoderCell", "must exceed the memory size"});
  check_error<std::invalid_argument>([&] { AttentionDecoderCell(std::make_unique<tg::GRUCell>(E + 4, H), 4, AttentionScore::dot); },
                                     {"AttentionDecoderCell", "dot score", "4 and 3"});
  check_error<std::invalid_argument>([&] { AttentionDecoderCell(nullptr, D); }, {"AttentionDecoderCell", "null"});
}

TEST_CASE("attention decoder: the README's encoder-decoder example runs, and its gradient reaches every parameter") {
  tg::manual_seed(199);
  const std::size_t V = 7, E = 4, H = 5, S = 6, T = 4, B = 3;
  const xt::xarray<int> source = {{1, 2, 3}, {4, 5, 6}, {1, 1, 0}, {2, 0, 0}, {3, 0, 0}, {4, 0, 0}};  // [S, B]
  const tg::SequenceMask source_mask(std::vector<std::size_t>{6, 3, 2}, S);
  const xt::xarray<int> inputs = {{0, 0, 0}, {4, 2, 6}, {3, 1, 0}, {2, 0, 0}};   // [T, B]
  const xt::xarray<int> targets = {{4, 2, 6}, {3, 1, 0}, {2, 0, 0}, {0, 0, 0}};  // [T, B]
  const tg::SequenceMask target_mask(std::vector<std::size_t>{4, 3, 2}, T);
  const xt::xarray<int> previous = {1, 2, 3};
  // ---- the README's lines ----
  tg::Embedding src_emb(V, E), tgt_emb(V, E);
  tg::LSTM encoder(E, H);
  tg::AttentionDecoderCell decoder(std::make_unique<tg::LSTMCell>(E + H, H), H);  // memory width H
  tg::Linear head(H, V);

  tg::RecurrentOutput enc = encoder(src_emb(source), source_mask);     // source ids [S, B]
  tg::CellContext memory{{enc.output}, {source_mask.as_ids()}};        // [S, B, H] and [S, B]
  tg::State start = decoder.initial_state_from(enc.state(0));          // the encoder's {h, c}
  tg::Tensor x = tg::reshape(tgt_emb(inputs), {T * B, E});             // inputs [T, B]: start, y_1 ..
  tg::SequenceRun run = tg::run_cell(decoder, x, T, start, target_mask,
                                     tg::RunCellOptions().context(memory));
  tg::Tensor logits = tg::reshape(head(run.outputs), {T, B, V});       // targets [T, B]: y_1 .., end
  tg::cross_entropy(logits, targets, target_mask.as_ids()).backward();  // BPTT through the attention
  // Greedy decoding, one step at a time: state = decoder(tgt_emb(previous), state, memory);
  tg::AttentionStep s = decoder.step_with_weights(tgt_emb(previous), start, memory);  // s.weights [B, S]
  // ---- end ----
  for (tg::Module* m : std::vector<tg::Module*>{&src_emb, &tgt_emb, &encoder, &decoder, &head})
    for (const auto& [name, p] : m->named_parameters()) {
      CAPTURE(name);
      REQUIRE(p.has_grad());
      CHECK(xt::amax(xt::abs(p.grad().to_xarray<double>()))() > 0.0);
    }
  CHECK(s.weights.shape() == Shape{B, S});
  // The source mask holds: stream 2 (length 2) puts no weight past its second letter.
  const xt::xarray<double> w = s.weights.to_xarray<double>();
  CHECK(w(2, 2) + w(2, 3) + w(2, 4) + w(2, 5) == 0.0);
  CHECK(w(2, 0) + w(2, 1) == doctest::Approx(1.0));
}
