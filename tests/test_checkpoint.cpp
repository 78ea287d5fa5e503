// Checkpoints (io/checkpoint): bit-exact round trips, a resumed run equal to an uninterrupted
// one, and every kind of bad file (truncated, bit-flipped, wrong shape or dtype, missing or
// unexpected tensors, mismatched optimizer or schedule) rejected with a clear message while the
// model, optimizer, schedule and extra tensors stay exactly as they were.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <type_traits>
#include <utility>

#include "hostile_files.hpp"
#include "temp_files.hpp"
#include "test_helpers.hpp"

namespace fs = std::filesystem;
using tgtest::Bytes;
using tgtest::read_bytes;
using tgtest::TempDir;
using tgtest::write_bytes;
using tg::Tensor;

namespace {

// A small model with a child module: "weight" [H, 4], "bias" [H], "head.weight" [2, H],
// "head.bias" [2].  B batch 5, I input 4, H hidden, O output 2.
template <class T>
struct HeadT : tg::Module {
  tg::Tensor weight, bias;
  explicit HeadT(std::size_t hidden)
      : weight(this->register_parameter("weight", tg::Tensor::param(tg::uniform<T>({2, hidden}, T(-0.5), T(0.5))))),
        bias(this->register_parameter("bias", tg::Tensor::param(tg::uniform<T>({2}, T(-0.1), T(0.1))))) {}
};

template <class T>
struct TinyNetT : tg::Module {
  tg::Tensor weight, bias;
  HeadT<T> head;
  explicit TinyNetT(std::size_t hidden = 3)
      : weight(this->register_parameter("weight", tg::Tensor::param(tg::uniform<T>({hidden, 4}, T(-0.5), T(0.5))))),
        bias(this->register_parameter("bias", tg::Tensor::param(tg::uniform<T>({hidden}, T(-0.1), T(0.1))))),
        head(hidden) {
    this->register_module("head", head);
  }
  // x [B, 4], h [B, H] carried state, y [B, 2]
  tg::Tensor hidden(const tg::Tensor& x, const tg::Tensor& h) const {
    return tg::tanh(tg::linear(x, weight, bias) + h);  // [B, H]
  }
  tg::Tensor loss(const tg::Tensor& x, const tg::Tensor& h, const tg::Tensor& y) const {
    return tg::mse(tg::linear(hidden(x, h), head.weight, head.bias), y);
  }
};
using TinyNet = TinyNetT<float>;

using MakeOpt = std::function<std::unique_ptr<tg::Optimizer>(TinyNet&)>;

std::vector<std::pair<std::string, MakeOpt>> optimizer_kinds() {
  return {
      {"AdamW", [](TinyNet& m) {
         return std::make_unique<tg::AdamW>(tg::weight_decay_groups(m.named_parameters()),
                                            tg::AdamWOptions(2e-2).weight_decay(0.05));
       }},
      {"SGD", [](TinyNet& m) {
         return std::make_unique<tg::SGD>(m.named_parameters(), tg::SGDOptions(0.1).momentum(0.9).weight_decay(1e-3).nesterov(true));
       }},
      {"RMSprop", [](TinyNet& m) {
         return std::make_unique<tg::RMSprop>(m.named_parameters(),
                                              tg::RMSpropOptions(1e-2).alpha(0.9).momentum(0.5).centered(true));
       }},
      {"Adagrad", [](TinyNet& m) {
         return std::make_unique<tg::Adagrad>(m.named_parameters(), tg::AdagradOptions(0.1).lr_decay(0.01).initial_accumulator_value(0.1));
       }},
  };
}

// One training run: model, optimizer, warm-up + cosine schedule, a carried hidden state.
struct Run {
  struct Seed {
    explicit Seed(std::uint64_t s) { tg::manual_seed(s); }
  } seed_;                                       // first: seeds the model's initial values
  TinyNet model;
  std::unique_ptr<tg::Optimizer> opt;
  std::unique_ptr<tg::LRScheduler> sched;
  Tensor h = Tensor::zeros({5, 3});   // [B, H], carried across steps
  Tensor y;                            // [B, 2]
  Run(std::uint64_t seed, const MakeOpt& make) : seed_(seed) {  // another seed, other values
    opt = make(model);
    sched = std::make_unique<tg::LinearWarmup>(*opt, 3, tg::CosineAnnealingLR(*opt, 17, 1e-4));
    y = Tensor::constant(xt::xarray<float>{{0.5f, -0.5f}, {0.1f, 0.2f}, {-0.3f, 0.7f}, {0.0f, 0.0f}, {0.9f, -0.1f}});
  }
  void step() {
    const Tensor x = Tensor::constant(tg::randn<float>({5, 4}));  // data from the library RNG
    opt->zero_grad();
    model.loss(x, h, y).backward();
    tg::clip_grad_norm(opt->parameters(), 0.5);
    opt->step();
    sched->step();
    tg::NoGradGuard no_grad;
    h = tg::detach(model.hidden(x, h));
  }
  tg::NamedTensors extra() const { return {{"hidden", h}}; }
  // Everything of the run a checkpoint holds besides the model.
  tg::SaveCheckpointOptions save_options() const {
    return tg::SaveCheckpointOptions().optimizer(*opt).scheduler(*sched).extra(extra());
  }
  tg::LoadCheckpointOptions load_options() {
    return tg::LoadCheckpointOptions().optimizer(*opt).scheduler(*sched).extra(extra());
  }
};

// Everything a load could change, as bytes: parameters, optimizer state, lrs, schedule, extras
// (all but the parameters when !with_model).
Bytes snapshot(const Run& r, bool with_model = true) {
  Bytes out;
  auto add = [&](const void* p, std::size_t n) {
    const auto* b = static_cast<const unsigned char*>(p);
    out.insert(out.end(), b, b + n);
  };
  auto add_tensors = [&](const tg::NamedTensors& ts) {
    for (const auto& [name, t] : ts) {
      add(name.data(), name.size());
      add(t.data<float>(), t.numel() * sizeof(float));
    }
  };
  if (with_model) add_tensors(r.model.named_parameters());
  const auto state = r.opt->exact_state();  // exact step counts, also past 2^24
  add_tensors(state.buffers);
  for (const auto& [name, count] : state.steps) {
    add(name.data(), name.size());
    add(&count, sizeof count);
  }
  add_tensors(r.extra());
  for (std::size_t g = 0; g < r.opt->num_groups(); ++g) {
    const double lr = r.opt->lr(g), wd = r.opt->weight_decay(g);
    add(&lr, sizeof lr);
    add(&wd, sizeof wd);
  }
  const long last = r.sched->last_step();
  add(&last, sizeof last);
  for (double b : r.sched->base_lrs()) add(&b, sizeof b);
  return out;
}

std::string load_error(const std::string& path, Run& r) {
  try {
    tg::load_checkpoint(path, r.model, r.load_options());
  } catch (const tg::CheckpointError& e) {
    return e.what();
  }
  return "(accepted)";
}

// A valid checkpoint of a run after 4 steps, and the run.
struct Saved {
  TempDir dir;
  std::string path = dir.file("ckpt.safetensors");
  Run run{1, optimizer_kinds()[0].second};
  Saved() {
    for (int k = 0; k < 4; ++k) run.step();
    tg::save_checkpoint(path, run.model, run.save_options().metadata({{"cell", "tiny"}}));
  }
};

// Rewrites a valid checkpoint through `edit` (tensors and metadata), as a valid safetensors
// file with fresh CRCs: only the checkpoint-level checks can reject it.
void rewrite(const std::string& path, const std::function<void(tg::StoredTensors&, std::map<std::string, std::string>&)>& edit) {
  tg::SafetensorsFile f = tg::load_safetensors(path);
  f.metadata.erase("crc32");
  f.metadata.erase("header_crc32");
  edit(f.tensors, f.metadata);
  tg::save_safetensors(path, f.tensors, f.metadata);
}

}  // namespace

TEST_CASE("round trip: parameters, optimizer state, lrs, schedule, extras and metadata, bit-exact") {
  for (const auto& [kind, make] : optimizer_kinds()) {
    CAPTURE(kind);
    TempDir dir;
    const std::string path = dir.file("rt.safetensors");
    Run a(1, make);
    for (int k = 0; k < 6; ++k) a.step();
    const std::map<std::string, std::string> meta = {{"cell", "tiny"}, {"hidden", "3"}, {"rng", tg::rng_state()}};
    tg::save_checkpoint(path, a.model, a.save_options().metadata(meta));

    Run b(2, make);  // different initial values
    CHECK(snapshot(b) != snapshot(a));
    const auto got = tg::load_checkpoint(path, b.model, b.load_options());
    CHECK(got == meta);  // the caller's metadata, without the reserved entries
    CHECK(snapshot(b) == snapshot(a));
    CHECK(tg::read_checkpoint_metadata(path) == meta);
  }
  // The file is plain safetensors with the documented names.
  TempDir dir;
  Run a(1, optimizer_kinds()[0].second);
  a.step();
  tg::save_checkpoint(dir.file("n.safetensors"), a.model, a.save_options());
  const tg::SafetensorsFile f = tg::load_safetensors(dir.file("n.safetensors"));
  for (const char* name : {"weight", "bias", "head.weight", "head.bias", "optim.step.weight",
                           "optim.exp_avg.head.weight", "optim.exp_avg_sq.bias", "extra.hidden"})
    CHECK_MESSAGE(f.contains(name), name);
  CHECK(f.metadata.at("tapegrad.checkpoint_version") == "2");  // I64 step counts
  CHECK(f.at("optim.step.weight").dtype() == tg::StoredDtype::I64);
  CHECK(f.at("optim.step.weight").shape().empty());
  CHECK(f.at("optim.step.weight").get<std::int64_t>()() == 1);
  CHECK(f.metadata.at("tapegrad.optimizer") == "AdamW");
  CHECK(f.metadata.at("tapegrad.optimizer.groups") == "2");
  CHECK(f.metadata.at("tapegrad.optimizer.group.1.weight_decay") == "0");
  CHECK(f.metadata.at("tapegrad.scheduler") == "LinearWarmup(CosineAnnealingLR)");
  CHECK(f.metadata.at("tapegrad.scheduler.last_step") == "1");
}

// Whether SaveCheckpointOptions().optimizer(O) compiles: not for a temporary optimizer.
template <class O, class = void>
struct saves_optimizer : std::false_type {};
template <class O>
struct saves_optimizer<O, std::void_t<decltype(tg::SaveCheckpointOptions().optimizer(std::declval<O>()))>>
    : std::true_type {};
static_assert(saves_optimizer<const tg::SGD&>::value && !saves_optimizer<tg::SGD>::value,
              "the options keep the optimizer's address: a temporary one would dangle");

TEST_CASE("options: built on a temporary, from temporary metadata and extras, kept past that line, round-trip") {
  TempDir dir;
  const std::string path = dir.file("opts.safetensors");
  Run a(1, optimizer_kinds()[0].second);
  for (int k = 0; k < 3; ++k) a.step();
  // Every temporary here is gone before the options are used: they hold extras and metadata by value.
  const tg::SaveCheckpointOptions save = tg::SaveCheckpointOptions()
                                             .metadata({{"cell", std::string("ti") + "ny"}})
                                             .extra({{"hidden", a.h}})
                                             .scheduler(*a.sched)
                                             .optimizer(*a.opt);
  tg::save_checkpoint(path, a.model, save);

  Run b(2, optimizer_kinds()[0].second);
  REQUIRE(snapshot(b) != snapshot(a));
  const tg::LoadCheckpointOptions load =
      tg::LoadCheckpointOptions().extra({{"hidden", b.h}}).optimizer(*b.opt).scheduler(*b.sched);
  const std::map<std::string, std::string> meta = {{"cell", "tiny"}};
  CHECK(tg::load_checkpoint(path, b.model, load) == meta);
  CHECK(snapshot(b) == snapshot(a));  // b.h too: the options' copy of the handle writes into it
}

TEST_CASE("options: the defaults save the model only, and load only the model") {
  TempDir dir;
  Run a(1, optimizer_kinds()[0].second);
  for (int k = 0; k < 3; ++k) a.step();
  tg::save_checkpoint(dir.file("model.safetensors"), a.model);
  const tg::SafetensorsFile f = tg::load_safetensors(dir.file("model.safetensors"));
  std::vector<std::string> stored, params;
  for (const auto& [name, t] : f.tensors) stored.push_back(name);
  for (const auto& [name, p] : a.model.named_parameters()) params.push_back(name);
  std::sort(stored.begin(), stored.end());
  std::sort(params.begin(), params.end());
  CHECK(stored == params);  // no "optim." or "extra." tensors
  CHECK(f.metadata.count("tapegrad.optimizer") == 0);
  CHECK(f.metadata.count("tapegrad.scheduler") == 0);
  CHECK(tg::read_checkpoint_metadata(dir.file("model.safetensors")).empty());

  // From a full checkpoint, the defaults load the parameters and leave the rest of the run alone.
  tg::save_checkpoint(dir.file("full.safetensors"), a.model, a.save_options().metadata({{"cell", "tiny"}}));
  Run b(2, optimizer_kinds()[0].second);
  for (int k = 0; k < 2; ++k) b.step();
  const Bytes rest = snapshot(b, false);
  CHECK(tg::load_checkpoint(dir.file("full.safetensors"), b.model).at("cell") == "tiny");
  for (const auto& [name, p] : a.model.named_parameters()) {
    CAPTURE(name);
    CHECK(std::memcmp(p.data<float>(), b.model.parameter(name).data<float>(), p.numel() * sizeof(float)) == 0);
  }
  CHECK(snapshot(b, false) == rest);
}

TEST_CASE("resume: 20 steps straight equal 10, save, load into fresh objects, 10 more, bit-identical") {
  for (const auto& [kind, make] : optimizer_kinds()) {
    CAPTURE(kind);
    TempDir dir;
    const std::string path = dir.file("resume.safetensors");

    tg::manual_seed(123);
    Run straight(7, make);
    tg::manual_seed(1000);  // the data stream
    for (int k = 0; k < 20; ++k) straight.step();

    std::string saved_rng;
    {
      Run first(7, make);
      tg::manual_seed(1000);
      for (int k = 0; k < 10; ++k) first.step();
      tg::save_checkpoint(path, first.model, first.save_options().metadata({{"rng", tg::rng_state()}}));
    }  // the first run is gone: only the file remains
    Run resumed(99, make);  // fresh objects, other initial values, RNG elsewhere
    const auto meta = tg::load_checkpoint(path, resumed.model, resumed.load_options());
    tg::set_rng_state(meta.at("rng"));
    for (int k = 0; k < 10; ++k) resumed.step();

    CHECK(snapshot(resumed) == snapshot(straight));
    for (const auto& [name, p] : straight.model.named_parameters()) {
      CAPTURE(name);
      CHECK(std::memcmp(p.data<float>(), resumed.model.parameter(name).data<float>(), p.numel() * sizeof(float)) == 0);
    }
  }
}

TEST_CASE("truncated: a checkpoint cut at every byte offset is rejected and changes nothing") {
  Saved s;
  const Bytes whole = read_bytes(s.path);
  Run target(5, optimizer_kinds()[0].second);
  target.step();
  const Bytes before = snapshot(target);
  const std::string cut_path = s.dir.file("cut.safetensors");
  for (std::size_t len = 0; len < whole.size(); ++len) {
    CAPTURE(len);
    write_bytes(cut_path, Bytes(whole.begin(), whole.begin() + std::ptrdiff_t(len)));
    const std::string msg = load_error(cut_path, target);
    CHECK(msg.find("safetensors file '" + cut_path + "': ") == 0);
  }
  CHECK(snapshot(target) == before);
  write_bytes(cut_path, whole);
  CHECK(load_error(cut_path, target) == "(accepted)");
  CHECK(snapshot(target) == snapshot(s.run));
}

TEST_CASE("bit flips: every single-bit flip of a checkpoint is rejected and changes nothing") {
  Saved s;
  const Bytes whole = read_bytes(s.path);
  Run target(5, optimizer_kinds()[0].second);
  target.step();
  const Bytes before = snapshot(target);
  const std::string flip_path = s.dir.file("flip.safetensors");
  write_bytes(flip_path, whole);
  std::fstream file(flip_path, std::ios::binary | std::ios::in | std::ios::out);
  auto put = [&](std::size_t at, unsigned char byte) {  // one byte in place, then flushed
    file.seekp(std::streamoff(at));
    file.put(static_cast<char>(byte));
    file.flush();
  };
  std::size_t crc = 0;
  for (std::size_t bit = 0; bit < whole.size() * 8; ++bit) {
    put(bit / 8, whole[bit / 8] ^ static_cast<unsigned char>(1u << (bit % 8)));
    const std::string msg = load_error(flip_path, target);
    put(bit / 8, whole[bit / 8]);
    if (msg == "(accepted)") {
      CAPTURE(bit);
      FAIL("a flipped bit was loaded");
    }
    crc += msg.find("CRC mismatch") != std::string::npos;
  }
  CHECK(read_bytes(flip_path) == whole);
  MESSAGE(whole.size() * 8 << " flips rejected, " << crc << " of them by a CRC");
  CHECK(snapshot(target) == before);
}

TEST_CASE("wrong shape, wrong dtype, missing and unexpected tensors: clear errors, nothing changes") {
  Saved s;
  Run target(5, optimizer_kinds()[0].second);
  target.step();
  const Bytes before = snapshot(target);
  const std::string original = s.dir.file("original.safetensors");
  fs::copy_file(s.path, original);

  struct Case {
    std::string what;
    std::function<void(tg::StoredTensors&, std::map<std::string, std::string>&)> edit;
    std::string words;
  };
  auto replace = [](const std::string& name, tg::StoredTensor t) {
    return [=](tg::StoredTensors& ts, std::map<std::string, std::string>&) {
      for (auto& [n, v] : ts)
        if (n == name) v = t;
    };
  };
  auto drop = [](const std::string& name) {
    return [=](tg::StoredTensors& ts, std::map<std::string, std::string>&) {
      ts.erase(std::remove_if(ts.begin(), ts.end(), [&](const auto& e) { return e.first == name; }), ts.end());
    };
  };
  auto set_meta = [](const std::string& key, const std::string& value) {
    return [=](tg::StoredTensors&, std::map<std::string, std::string>& m) {
      if (value.empty())
        m.erase(key);
      else
        m[key] = value;
    };
  };
  const std::vector<Case> cases = {
      {"wrong shape", replace("head.weight", xt::xarray<float>::from_shape({3, 2})),
       "tensor 'head.weight' has shape [3, 2] but the model's parameter 'head.weight' has shape [2, 3]"},
      {"wrong dtype", replace("bias", xt::xarray<std::int64_t>{0, 0, 0}),
       "tensor 'bias' has dtype I64 but the model's parameter 'bias' is float32"},
      {"missing parameter", drop("head.bias"), "missing tensor 'head.bias' (the model's parameter 'head.bias')"},
      {"unexpected tensor", [](tg::StoredTensors& ts, auto&) { ts.emplace_back("decoder.weight", xt::xarray<float>{1.0f}); },
       "unexpected tensor 'decoder.weight': the model has no parameter of that name"},
      {"missing optimizer state", drop("optim.exp_avg_sq.head.bias"),
       "optimizer state: load_state: parameter 'head.bias' has only part of its state; missing 'exp_avg_sq.head.bias'"},
      {"wrong optimizer state shape", replace("optim.exp_avg.weight", xt::xarray<float>::from_shape({4, 3})),
       "optimizer state: load_state: the state tensor 'exp_avg.weight' has shape [4, 3] but parameter 'weight' has shape [3, 4]"},
      {"wrong optimizer state dtype", replace("optim.exp_avg.weight", xt::xarray<std::int64_t>::from_shape({3, 4})),
       "tensor 'optim.exp_avg.weight' has dtype I64 but optimizer state is float32 or float64"},
      {"missing extra", drop("extra.hidden"), "missing tensor 'extra.hidden' (the extra tensor 'hidden')"},
      {"wrong extra shape", replace("extra.hidden", xt::xarray<float>::from_shape({5, 4})),
       "tensor 'extra.hidden' has shape [5, 4] but the extra tensor 'hidden' has shape [5, 3]"},
      {"format version", set_meta("tapegrad.checkpoint_version", "3"),
       "checkpoint format version '3'; this tapegrad reads versions 1 and 2"},
      {"no format version", set_meta("tapegrad.checkpoint_version", ""),
       "the metadata has no 'tapegrad.checkpoint_version' (not a tapegrad checkpoint)"},
      {"optimizer kind", set_meta("tapegrad.optimizer", "SGD"), "it holds SGD optimizer state, not AdamW"},
      {"no optimizer", set_meta("tapegrad.optimizer", ""),
       "the metadata has no 'tapegrad.optimizer' (the checkpoint was saved without optimizer state)"},
      {"group count", set_meta("tapegrad.optimizer.groups", "3"),
       "its optimizer has 3 parameter group(s), this one 2"},
      {"bad lr", set_meta("tapegrad.optimizer.group.0.lr", "fast"),
       "the metadata 'tapegrad.optimizer.group.0.lr' = 'fast' is not a finite number >= 0"},
      {"negative lr", set_meta("tapegrad.optimizer.group.1.lr", "-0.1"),
       "the metadata 'tapegrad.optimizer.group.1.lr' = '-0.1' is not a finite number >= 0"},
      {"schedule kind", set_meta("tapegrad.scheduler", "StepLR"),
       "it holds the position of a StepLR schedule, not LinearWarmup(CosineAnnealingLR)"},
      {"no schedule", set_meta("tapegrad.scheduler", ""),
       "the metadata has no 'tapegrad.scheduler' (the checkpoint was saved without a learning-rate schedule)"},
      {"bad last step", set_meta("tapegrad.scheduler.last_step", "-4"),
       "the metadata 'tapegrad.scheduler.last_step' = '-4' is not a whole number >= 0"},
      {"missing base lr", set_meta("tapegrad.scheduler.base_lr.1", ""),
       "the metadata has no 'tapegrad.scheduler.base_lr.1' (needed to restore it)"},
      {"extra base lr", set_meta("tapegrad.scheduler.base_lr.2", "0.1"),
       "its schedule has more base lrs than the optimizer has groups"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.what);
    fs::copy_file(original, s.path, fs::copy_options::overwrite_existing);
    rewrite(s.path, c.edit);
    const std::string msg = load_error(s.path, target);
    CHECK_MESSAGE(msg.find("checkpoint '" + s.path + "': " + c.words) == 0, msg);
    CHECK(snapshot(target) == before);
  }
}

TEST_CASE("dtypes across files: a float64 checkpoint loads into a float32 model and back, converted") {
  TempDir dir;
  // Any tensor's values, as float64 (exact for both dtypes), and rounded through float32.
  auto values = [](const Tensor& t) { return t.to_xarray<double>(); };
  auto via_f32 = [](const xt::xarray<double>& v) { return xt::xarray<double>(xt::cast<double>(xt::cast<float>(v))); };
  TinyNetT<double> d;  // float64 parameters
  tg::save_checkpoint(dir.file("d.safetensors"), d);
  TinyNet f;
  tg::load_checkpoint(dir.file("d.safetensors"), f);
  CHECK(f.weight.dtype() == tg::kFloat32);  // the model keeps its dtype; the values convert
  CHECK(values(f.weight) == via_f32(values(d.weight)));
  CHECK(values(f.head.bias) == via_f32(values(d.head.bias)));

  tg::save_checkpoint(dir.file("f.safetensors"), f);
  TinyNetT<double> d2;
  tg::load_checkpoint(dir.file("f.safetensors"), d2);
  CHECK(d2.weight.dtype() == tg::kFloat64);
  CHECK(values(d2.weight) == values(f.weight));

  // A value finite in float64 but beyond float32's range: refused, naming it; nothing changes.
  d.weight.mutable_data<double>()[5] = 1e300;
  tg::save_checkpoint(dir.file("big.safetensors"), d);
  const xt::xarray<double> before = values(f.weight);
  CHECK_THROWS_WITH_AS(tg::load_checkpoint(dir.file("big.safetensors"), f),
                       doctest::Contains("tensor 'weight' holds 1e+300 at element 5, which overflows float32"),
                       tg::CheckpointError);
  CHECK(values(f.weight) == before);
  tg::load_checkpoint(dir.file("big.safetensors"), d2);  // fine in float64
  CHECK(d2.weight.data<double>()[5] == 1e300);
}

TEST_CASE("dtypes across files: a float32 run resumes in float64 after Module::to, optimizer state included") {
  TempDir dir;
  const std::string path = dir.file("run.safetensors");
  tg::manual_seed(5);
  // TinyNet::loss in plain ops, for either dtype.
  auto loss = [](const TinyNet& m, const Tensor& x, const Tensor& h, const Tensor& y) {
    return tg::mse(tg::linear(tg::tanh(tg::linear(x, m.weight, m.bias) + h), m.head.weight, m.head.bias), y);
  };
  TinyNet a;
  tg::Adam opt_a(a.named_parameters());
  const Tensor x = Tensor::constant(tg::uniform<float>({5, 4}, -1, 1));
  const Tensor h = Tensor::zeros({5, 3});
  const Tensor y = Tensor::constant(tg::uniform<float>({5, 2}, -1, 1));
  loss(a, x, h, y).backward();
  opt_a.step();
  tg::save_checkpoint(path, a, tg::SaveCheckpointOptions().optimizer(opt_a));

  TinyNet b;
  b.to(tg::kFloat64);
  tg::Adam opt_b(b.named_parameters());
  tg::load_checkpoint(path, b, tg::LoadCheckpointOptions().optimizer(opt_b));
  for (const auto& [name, t] : opt_b.state()) {
    CAPTURE(name);
    CHECK(t.dtype() == tg::kFloat64);
  }
  auto values = [](const Tensor& t) { return t.to_xarray<double>(); };
  CHECK(values(b.weight) == values(a.weight));
  // One more step each, in float32 and in float64: the same update to float32 precision.
  opt_a.zero_grad();
  loss(a, x, h, y).backward();
  opt_a.step();
  loss(b, x.to(tg::kFloat64), h.to(tg::kFloat64), y.to(tg::kFloat64)).backward();
  opt_b.step();
  CHECK(xt::allclose(values(b.weight), values(a.weight), 1e-5, 1e-6));
}

TEST_CASE("partial loads: weights only, or without the extras, and a plain safetensors file is refused") {
  Saved s;
  TinyNet model;
  const auto meta = tg::load_checkpoint(s.path, model);  // optimizer, extras, schedule ignored
  CHECK(meta.at("cell") == "tiny");
  CHECK(std::memcmp(model.head.weight.data<float>(), s.run.model.head.weight.data<float>(), 6 * sizeof(float)) == 0);

  // Asking for an optimizer the file does not have.
  TinyNet bare;
  tg::save_checkpoint(s.dir.file("bare.safetensors"), bare);
  Run target(5, optimizer_kinds()[0].second);
  const Bytes before = snapshot(target);
  CHECK(load_error(s.dir.file("bare.safetensors"), target).find("saved without optimizer state") !=
        std::string::npos);
  CHECK(snapshot(target) == before);

  // A safetensors file from elsewhere has no CRCs or version: not trusted as a checkpoint.
  tg::save_safetensors(s.dir.file("plain.safetensors"), model.named_parameters());
  rewrite(s.dir.file("plain.safetensors"), [](auto&, auto&) {});
  {
    tg::SafetensorsFile f = tg::load_safetensors(s.dir.file("plain.safetensors"));
    CHECK(f.metadata.count("crc32") == 1);  // save_safetensors always adds the CRCs ...
  }
  CHECK_THROWS_WITH_AS(tg::load_checkpoint(s.dir.file("plain.safetensors"), model),
                       doctest::Contains("has no 'tapegrad.checkpoint_version' (not a tapegrad checkpoint)"),
                       tg::CheckpointError);  // ... but not the version
  CHECK_THROWS_AS(tg::read_checkpoint_metadata(s.dir.file("plain.safetensors")), tg::CheckpointError);
  CHECK_THROWS_WITH_AS(tg::load_checkpoint(s.dir.file("missing.safetensors"), model),
                       doctest::Contains("cannot open it"), tg::FileIoError);
}

TEST_CASE("save_checkpoint: reserved metadata keys, reserved parameter names and bad extras are rejected") {
  TempDir dir;
  const std::string path = dir.file("x.safetensors");
  TinyNet m;
  CHECK_THROWS_WITH_AS(tg::save_checkpoint(path, m, tg::SaveCheckpointOptions().metadata({{"tapegrad.mine", "1"}})),
                       doctest::Contains("the metadata key 'tapegrad.mine' is reserved"), std::invalid_argument);
  CHECK_THROWS_AS(tg::save_checkpoint(path, m, tg::SaveCheckpointOptions().metadata({{"crc32", "1"}})), std::invalid_argument);
  CHECK_THROWS_AS(tg::save_checkpoint(path, m, tg::SaveCheckpointOptions().extra({{"h", Tensor()}})), std::invalid_argument);
  CHECK_THROWS_WITH_AS(tg::save_checkpoint(path, m, tg::SaveCheckpointOptions().extra({{"h", m.bias}, {"h", m.bias}})),
                       "save_safetensors: two tensors are called 'extra.h'", std::invalid_argument);
  struct Odd : tg::Module {
    TinyNet optim;  // a child called "optim" would collide with the optimizer's names
    Odd() { register_module("optim", optim); }
  } odd;
  CHECK_THROWS_WITH_AS(tg::save_checkpoint(path, odd), doctest::Contains("starts with 'optim.' or 'extra.'"),
                       std::invalid_argument);
  CHECK_FALSE(fs::exists(path));
}

// ---- hostile checkpoints: valid safetensors files (CRCs right) whose values are bad ----

namespace {

using Edit = std::function<void(tg::StoredTensors&, std::map<std::string, std::string>&)>;

Edit set_meta(const std::string& key, const std::string& value) {
  return [=](tg::StoredTensors&, std::map<std::string, std::string>& m) { m[key] = value; };
}

Edit set_tensor(const std::string& name, tg::StoredTensor t) {
  return [=](tg::StoredTensors& ts, std::map<std::string, std::string>&) {
    bool found = false;
    for (auto& [n, v] : ts)
      if (n == name) v = t, found = true;
    REQUIRE_MESSAGE(found, name);
  };
}

// One element of a float tensor replaced by `value`.
Edit poison(const std::string& name, std::size_t at, float value) {
  return [=](tg::StoredTensors& ts, std::map<std::string, std::string>&) {
    for (auto& [n, v] : ts)
      if (n == name) {
        xt::xarray<float> a = v.get<float>();
        REQUIRE(at < a.size());
        a.data()[at] = value;
        v = a;
        return;
      }
    FAIL("no tensor " << name);
  };
}

Edit all_steps(const std::function<tg::StoredTensor(std::int64_t)>& as) {
  return [=](tg::StoredTensors& ts, std::map<std::string, std::string>&) {
    for (auto& [n, v] : ts)
      if (n.rfind("optim.step.", 0) == 0) v = as(v.get<std::int64_t>()());
  };
}

enum class Kind { content, io };

// Loads `path` into `target`; the error must be of `kind` and hold `words`, and neither the
// target nor the file may change.
std::string expect_refused(const std::string& path, Run& target, Kind kind, const std::string& words) {
  const Bytes before = snapshot(target);
  const Bytes file = fs::is_regular_file(path) ? read_bytes(path) : Bytes();
  std::string msg = "(accepted)";
  bool io = false;
  try {
    tg::load_checkpoint(path, target.model, target.load_options());
  } catch (const tg::FileIoError& e) {
    msg = e.what();
    io = true;
  } catch (const tg::CheckpointError& e) {
    msg = e.what();
  }
  CHECK_MESSAGE(msg.find(words) != std::string::npos, msg);
  CHECK(io == (kind == Kind::io));
  CHECK(snapshot(target) == before);
  if (fs::is_regular_file(path)) CHECK(read_bytes(path) == file);
  return msg;
}

}  // namespace

TEST_CASE("hostile checkpoints: every value checked before anything is copied (table)") {
  Saved s;
  Run target(5, optimizer_kinds()[0].second);  // AdamW, 2 groups
  target.step();
  const std::string original = s.dir.file("original.safetensors");
  fs::copy_file(s.path, original);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  const std::string max_step = std::to_string(tg::Optimizer::kMaxStepCount);
  struct Row {
    std::string what;
    Edit edit;
    std::string words;  // after "checkpoint '<path>': "
  };
  const std::vector<Row> rows = {
      // Non-finite values, in every kind of tensor a load copies.
      {"NaN parameter", poison("head.weight", 4, nan), "tensor 'head.weight' holds a non-finite value (nan) at element 4"},
      {"-inf parameter", poison("bias", 0, -inf), "tensor 'bias' holds a non-finite value (-inf) at element 0"},
      {"NaN optimizer moment", poison("optim.exp_avg_sq.weight", 11, nan),
       "tensor 'optim.exp_avg_sq.weight' holds a non-finite value (nan) at element 11"},
      {"inf optimizer moment", poison("optim.exp_avg.head.bias", 1, inf),
       "tensor 'optim.exp_avg.head.bias' holds a non-finite value (inf) at element 1"},
      {"NaN extra", poison("extra.hidden", 14, nan), "tensor 'extra.hidden' holds a non-finite value (nan) at element 14"},
      // Optimizer settings: decimal, finite, >= 0, as set_lr and set_weight_decay require.
      {"hex lr", set_meta("tapegrad.optimizer.group.0.lr", "0x10"), "the metadata 'tapegrad.optimizer.group.0.lr' = '0x10' is not a finite number >= 0"},
      {"nan lr", set_meta("tapegrad.optimizer.group.0.lr", "nan"), "'tapegrad.optimizer.group.0.lr' = 'nan' is not a finite number"},
      {"inf lr", set_meta("tapegrad.optimizer.group.1.lr", "inf"), "'tapegrad.optimizer.group.1.lr' = 'inf' is not a finite number"},
      {"lr 1e400", set_meta("tapegrad.optimizer.group.0.lr", "1e400"), "'tapegrad.optimizer.group.0.lr' = '1e400' is not a finite number"},
      {"lr with a space", set_meta("tapegrad.optimizer.group.0.lr", " 0.1"), "'tapegrad.optimizer.group.0.lr' = ' 0.1' is not a finite number"},
      {"negative weight decay", set_meta("tapegrad.optimizer.group.0.weight_decay", "-1"),
       "'tapegrad.optimizer.group.0.weight_decay' = '-1' is not a finite number >= 0"},
      {"control characters", set_meta("tapegrad.optimizer.group.0.lr", "0.1\n\x1b[2J"),
       "'tapegrad.optimizer.group.0.lr' = '0.1\\x0A\\x1B[2J' is not a finite number"},
      {"hex group count", set_meta("tapegrad.optimizer.groups", "0x2"), "'tapegrad.optimizer.groups' = '0x2' is not a whole number >= 0"},
      {"2^64 groups", set_meta("tapegrad.optimizer.groups", "18446744073709551616"), "is not a whole number >= 0"},
      {"a million and one groups", set_meta("tapegrad.optimizer.groups", "1000001"), "'tapegrad.optimizer.groups' = '1000001' exceeds the limit 1000000"},
      {"settings of a third group", set_meta("tapegrad.optimizer.group.2.lr", "0.1"), "its optimizer has settings for more groups than its 2"},
      // Step counts: I64, whole, in [0, kMaxStepCount]; the first release's float tensors too.
      {"negative I64 step", set_tensor("optim.step.bias", xt::xarray<std::int64_t>(-1)),
       "optimizer state: load_state: the step count 'step.bias' must be a whole number in [0, " + max_step + "], got -1"},
      {"I64 step past the limit", set_tensor("optim.step.weight", xt::xarray<std::int64_t>(tg::Optimizer::kMaxStepCount + 1)),
       "the step count 'step.weight' must be a whole number in [0, " + max_step + "], got 9000000000000001"},
      {"I64 step of two elements", set_tensor("optim.step.weight", xt::xarray<std::int64_t>{1, 2}),
       "the step count 'optim.step.weight' must hold one element, got shape [2]"},
      {"I64 moment", set_tensor("optim.exp_avg.weight", xt::xarray<std::int64_t>::from_shape({3, 4})),
       "tensor 'optim.exp_avg.weight' has dtype I64 but optimizer state is float32 or float64"},
      {"old F32 step 2.5", set_tensor("optim.step.bias", xt::xarray<float>(2.5f)), "the step count 'step.bias' must be a whole number >= 0, got 2.5"},
      {"old F32 step NaN", set_tensor("optim.step.bias", xt::xarray<float>(nan)), "tensor 'optim.step.bias' holds a non-finite value (nan)"},
      {"F64 step 1e300 for a float32 parameter", set_tensor("optim.step.bias", xt::xarray<double>(1e300)),
       "tensor 'optim.step.bias' holds 1e+300 at element 0, which overflows float32 (the dtype it loads into)"},
      {"F64 parameter beyond float32", set_tensor("head.bias", xt::xarray<double>{0.5, -3.5e38}),
       "tensor 'head.bias' holds -3.5e+38 at element 1, which overflows float32 (the dtype it loads into)"},
      {"F64 moment beyond float32", set_tensor("optim.exp_avg_sq.head.bias", xt::xarray<double>{1e39, 0.0}),
       "tensor 'optim.exp_avg_sq.head.bias' holds 1e+39 at element 0, which overflows float32"},
      {"a step count of no parameter", [](tg::StoredTensors& ts, auto&) { ts.emplace_back("optim.step.weight ", xt::xarray<std::int64_t>(1)); },
       "unexpected state tensor 'step.weight '"},
      // The schedule: a decimal position in [0, kMaxStepCount], finite base lrs >= 0.
      {"last_step 1e3", set_meta("tapegrad.scheduler.last_step", "1e3"), "'tapegrad.scheduler.last_step' = '1e3' is not a whole number >= 0"},
      {"last_step 0x10", set_meta("tapegrad.scheduler.last_step", "0x10"), "= '0x10' is not a whole number >= 0"},
      {"last_step past the limit", set_meta("tapegrad.scheduler.last_step", "9000000000000001"),
       "'tapegrad.scheduler.last_step' = '9000000000000001' exceeds the limit " + max_step},
      {"nan base lr", set_meta("tapegrad.scheduler.base_lr.0", "nan"), "'tapegrad.scheduler.base_lr.0' = 'nan' is not a finite number >= 0"},
      {"negative base lr", set_meta("tapegrad.scheduler.base_lr.1", "-0.5"), "'tapegrad.scheduler.base_lr.1' = '-0.5' is not a finite number >= 0"},
      {"huge base lr", set_meta("tapegrad.scheduler.base_lr.0", "1e308"), "schedule: "},  // finite, but its cosine lr overflows
      {"format version 01", set_meta("tapegrad.checkpoint_version", "01"), "checkpoint format version '01'"},
  };
  for (const Row& row : rows) {
    CAPTURE(row.what);
    fs::copy_file(original, s.path, fs::copy_options::overwrite_existing);
    rewrite(s.path, row.edit);
    const std::string msg = expect_refused(s.path, target, Kind::content, row.words);
    CHECK(msg.find("checkpoint '" + s.path + "': ") == 0);
  }
  // The original loads: the rows fail for their one edit.
  fs::copy_file(original, s.path, fs::copy_options::overwrite_existing);
  CHECK(load_error(s.path, target) == "(accepted)");
  CHECK(snapshot(target) == snapshot(s.run));
}

TEST_CASE("hostile checkpoints: paths that are not regular files are FileIoErrors, at once") {
  TempDir dir;
  Run target(5, optimizer_kinds()[0].second);
  target.step();
  tgtest::write_text(dir.file("plain"), "x");
  const std::string fifo = dir.file("fifo.safetensors");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  expect_refused(dir.file("missing.safetensors"), target, Kind::io, "cannot open it: No such file or directory");
  expect_refused(dir.path().string(), target, Kind::io, "not a regular file (a directory)");
  expect_refused(dir.file("plain") + "/x.safetensors", target, Kind::io, "cannot open it: Not a directory");
  const tgtest::ChildResult r = tgtest::in_child([&](const auto& say) {
    try {
      tg::load_checkpoint(fifo, target.model, target.load_options());
    } catch (const tg::FileIoError& e) {
      say(e.what());
      return 0;
    }
    return 1;
  }, 5);
  CHECK(r.code == 0);  // -14 (SIGALRM): it hung on the FIFO
  CHECK(r.message == "safetensors file '" + fifo + "': not a regular file (a FIFO)");
}

TEST_CASE("metadata numbers are decimal: '010' is ten") {
  Saved s;
  rewrite(s.path, [](auto&, std::map<std::string, std::string>& m) {
    m["tapegrad.optimizer.group.0.lr"] = "010";
    m["tapegrad.optimizer.group.0.weight_decay"] = "0.0100";
    m["tapegrad.scheduler.last_step"] = "010";
  });
  Run target(5, optimizer_kinds()[0].second);
  REQUIRE(load_error(s.path, target) == "(accepted)");
  CHECK(target.sched->last_step() == 10);
  CHECK(target.opt->weight_decay(0) == 0.01);
  CHECK(target.sched->base_lrs() == s.run.sched->base_lrs());
}

TEST_CASE("step counts: exact past 2^24 in a float checkpoint, and the first release's F32/F64 counts still load") {
  TempDir dir;
  const std::string path = dir.file("steps.safetensors");
  // A float AdamW at step 2^24 + 1, reached cheaply: load_state with exact counts, then one step.
  Run a(1, optimizer_kinds()[0].second);
  a.step();
  auto exact = a.opt->exact_state();
  for (auto& [name, count] : exact.steps) count = std::int64_t(1) << 24;
  a.opt->load_state(exact.buffers, exact.steps);
  a.step();
  for (const auto& [name, count] : a.opt->exact_state().steps) CHECK(count == (std::int64_t(1) << 24) + 1);
  CHECK_THROWS_AS(a.opt->state(), std::overflow_error);  // state() still refuses to round it
  tg::save_checkpoint(path, a.model, a.save_options());
  const tg::SafetensorsFile f = tg::load_safetensors(path);
  CHECK(f.at("optim.step.weight").get<std::int64_t>()() == 16777217);
  CHECK(f.metadata.at("tapegrad.checkpoint_version") == "2");
  Run b(2, optimizer_kinds()[0].second);
  REQUIRE(load_error(path, b) == "(accepted)");
  CHECK(snapshot(b) == snapshot(a));
  for (const auto& [name, count] : b.opt->exact_state().steps) CHECK(count == 16777217);

  // The first release's layout, written by hand: F32 step counts, version 1.
  Run old(3, optimizer_kinds()[0].second);
  for (int k = 0; k < 3; ++k) old.step();
  tg::StoredTensors tensors;
  for (const auto& [name, p] : old.model.named_parameters()) tensors.emplace_back(name, tg::StoredTensor(p));
  for (const auto& [name, t] : old.opt->state()) tensors.emplace_back("optim." + name, tg::StoredTensor(t));
  tensors.emplace_back("extra.hidden", tg::StoredTensor(old.h));
  std::map<std::string, std::string> meta = {
      {"tapegrad.checkpoint_version", "1"}, {"tapegrad.optimizer", "AdamW"}, {"tapegrad.optimizer.groups", "2"},
      {"tapegrad.scheduler", old.sched->name()}, {"tapegrad.scheduler.last_step", "3"}};
  for (std::size_t g = 0; g < 2; ++g) {
    meta["tapegrad.optimizer.group." + std::to_string(g) + ".lr"] = tg::exact_text(old.opt->lr(g));
    meta["tapegrad.optimizer.group." + std::to_string(g) + ".weight_decay"] = tg::exact_text(old.opt->weight_decay(g));
    meta["tapegrad.scheduler.base_lr." + std::to_string(g)] = tg::exact_text(old.sched->base_lrs()[g]);
  }
  tg::save_safetensors(path, tensors, meta);
  CHECK(tg::load_safetensors(path).at("optim.step.weight").dtype() == tg::StoredDtype::F32);
  Run c(4, optimizer_kinds()[0].second);
  REQUIRE(load_error(path, c) == "(accepted)");
  CHECK(snapshot(c) == snapshot(old));

  // A double model's first-release checkpoint: F64 step counts.
  tg::manual_seed(11);
  TinyNetT<double> d;
  tg::Adam adam(d.named_parameters(), tg::AdamOptions(1e-2));
  for (int k = 0; k < 2; ++k) {
    adam.zero_grad();
    tg::sum(tg::square(tg::linear(tg::Tensor::constant(tg::randn<double>({5, 4})), d.weight, d.bias))).backward();
    adam.step();
  }
  tg::save_checkpoint(path, d, tg::SaveCheckpointOptions().optimizer(adam));
  rewrite(path, [](tg::StoredTensors& ts, std::map<std::string, std::string>& m) {
    all_steps([](std::int64_t c) { return tg::StoredTensor(xt::xarray<double>(double(c))); })(ts, m);
    m["tapegrad.checkpoint_version"] = "1";
  });
  CHECK(tg::load_safetensors(path).at("optim.step.weight").dtype() == tg::StoredDtype::F64);
  TinyNetT<double> d2;
  tg::Adam adam2(d2.named_parameters(), tg::AdamOptions(1e-2));
  tg::load_checkpoint(path, d2, tg::LoadCheckpointOptions().optimizer(adam2));
  CHECK(adam2.exact_state().steps == adam.exact_state().steps);
  CHECK(adam2.exact_state().steps.at(0).second == 2);
}
