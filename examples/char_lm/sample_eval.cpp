// char_lm sample and char_lm eval: they need only the checkpoint (and eval --dynamic the training
// corpus too, for its gradient statistics).
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "corpus.hpp"
#include "dynamic_eval.hpp"
#include "evaluate.hpp"
#include "flags.hpp"
#include "options.hpp"
#include "paths.hpp"
#include "report.hpp"
#include "session.hpp"
#include "utf8.hpp"

namespace charlm {
namespace {

// At most this many characters per `sample` call (--length x --num-samples): about 20 s.
constexpr std::size_t kMaxSampledCharacters = 2000000;

// The id to start from without a prime: a newline if the vocabulary has one.
int start_id(const Vocabulary& v) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v.symbol(i) == U'\n') return int(i);
  return 0;
}

// The corpus a checkpoint was trained on, found by its name as given to train (relative to the
// working directory), beside the checkpoint, or at the absolute path train recorded; the first
// that exists must have the recorded hash. `remedy` ends the error when none is found.
Corpus training_corpus(const Metadata& meta, const std::string& checkpoint, const std::string& remedy) {
  const std::string name = required(meta, "corpus.name", checkpoint);
  if (name == "built-in corpus") return builtin_corpus();
  const std::filesystem::path folder = std::filesystem::path(checkpoint).parent_path();
  std::vector<std::string> candidates{name, (folder / name).string(), (folder / std::filesystem::path(name).filename()).string()};
  if (meta.count("corpus.path")) candidates.push_back(meta.at("corpus.path"));
  for (const std::string& path : candidates) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) continue;
    check_readable_file("the corpus named by the checkpoint " + shown(checkpoint), path);
    Corpus corpus = read_corpus(path);
    if (hash_text(corpus.hash) != required(meta, "corpus.hash", checkpoint))
      throw InputError(shown(path) + " has changed since " + shown(checkpoint) + " was trained on it; " + remedy);
    return corpus;
  }
  throw InputError("cannot find " + shown(name) + ", the corpus " + shown(checkpoint) +
                   " was trained on, in the working directory or beside the checkpoint; " + remedy);
}

// The checkpoint's corpus split as train split it.
Split training_split(const LoadedModel& m, const std::string& checkpoint, const std::string& remedy) {
  const Corpus corpus = training_corpus(m.meta, checkpoint, remedy);
  const double f = parse_real_in(required(m.meta, "train.val_fraction", checkpoint), limits::kValFraction,
                                 "the checkpoint's metadata 'train.val_fraction'");
  return split_corpus(m.vocab.encode(corpus.text, corpus.name), f);
}

// What eval reads: the validation split, or the whole --data file.
struct EvalText {
  std::vector<int> ids;
  std::string what;       // for the text output
  std::string evaluated;  // for the JSON: "validation" or the path
};

EvalText eval_text(const LoadedModel& m, const EvalOptions& o) {
  if (o.data.empty()) {
    const std::string name = required(m.meta, "corpus.name", o.checkpoint);
    return {training_split(m, o.checkpoint, "pass --data").val, name + " (validation split)", "validation"};
  }
  check_readable_file("--data", o.data);
  const Corpus corpus = read_corpus(o.data);
  return {m.vocab.encode(corpus.text, corpus.name), o.data, o.data};
}

// --part: all of `ids`, or the half before or from its middle character (the prediction
// across the cut belongs to neither half).
std::vector<int> part_of(const std::vector<int>& ids, const std::string& part) {
  const auto middle = ids.begin() + long(ids.size() / 2);
  if (part == "first-half") return {ids.begin(), middle};
  if (part == "second-half") return {middle, ids.end()};
  return ids;
}

// The dynamic flags need --dynamic or --dynamic-tune; --dynamic-tune chooses the step size,
// the decay and the halves itself.
void check_dynamic_flags(const EvalOptions& o) {
  for (const char* flag : {"--dynamic-lr", "--dynamic-decay", "--dynamic-block", "--dynamic-stats"})
    if (o.given.count(flag) && !o.dynamic && !o.dynamic_tune)
      throw InputError(std::string(flag) + " needs --dynamic (or --dynamic-tune)");
  if (o.dynamic_tune)
    for (const char* flag : {"--dynamic-lr", "--dynamic-decay", "--part"})
      if (o.given.count(flag))
        throw InputError(std::string(flag) + " conflicts with --dynamic-tune, which tunes the step size and decay on " +
                         "the first half of the text and reports on the second half; drop " + flag);
}

std::string fixed(double v, int digits) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

// --dynamic and --dynamic-tune: the gradient statistics, the search (--dynamic-tune, on the
// first half of the text), then the dynamic pass over `ids`; its figures as JSON (and as text
// unless --json).
nlohmann::json run_dynamic(LoadedModel& m, const EvalOptions& o, const EvalText& text, const std::vector<int>& ids,
                           double static_loss, double static_seconds) {
  auto say = [&o](const std::string& line) {
    if (o.json) return;
    std::printf("%s\n", line.c_str());
    std::fflush(stdout);
  };
  const Split split = training_split(m, o.checkpoint, "dynamic evaluation estimates its gradient statistics on its "
                                                      "training split");
  auto t0 = Clock::now();
  const GradientStats stats = gradient_stats(*m.model, split.train, o.dynamic_block, o.dynamic_stats);
  const double stats_seconds = seconds_since(t0);
  say("dynamic evaluation: gradient statistics on " + std::to_string(stats.characters) + " training characters in " +
      fixed(stats_seconds, 1) + " s");
  DynamicSettings s{o.dynamic_lr, o.dynamic_decay, o.dynamic_block};
  nlohmann::json j;
  if (o.dynamic_tune) {
    const std::vector<int> first = part_of(text.ids, "first-half");
    t0 = Clock::now();
    const TuneResult t = tune_dynamic(*m.model, first, stats, s);
    j["tuned_on"] = "first-half";
    j["seconds_tune"] = seconds_since(t0);
    for (const auto& [tried, loss] : t.tried) {
      j["grid"].push_back({{"lr", tried.lr}, {"decay", tried.decay}, {"loss", loss}});
      say("  first half, lr " + tg::exact_text(tried.lr) + " decay " + tg::exact_text(tried.decay) + ": " +
          fixed(loss, 4) + " nats/char");
    }
    s = t.best;
    say("tuned on the first half (" + std::to_string(first.size()) + " characters, " + std::to_string(t.tried.size()) +
        " passes in " + fixed(j["seconds_tune"].get<double>(), 1) + " s): lr " + tg::exact_text(s.lr) + ", decay " +
        tg::exact_text(s.decay));
  }
  const DynamicResult r = evaluate_dynamic(*m.model, ids, stats, s);
  if (!std::isfinite(r.loss))
    throw tg::NonFiniteError("dynamic evaluation diverged (a segment's loss above 10 ln V, or not a number) at --dynamic-lr " + tg::exact_text(s.lr) +
                             "; lower it, or let --dynamic-tune choose it");
  const double ln2 = std::log(2.0);
  say("dynamic (lr " + tg::exact_text(s.lr) + ", decay " + tg::exact_text(s.decay) + ", block " +
      std::to_string(s.block) + "): " + fixed(r.loss, 4) + " nats/char, " + fixed(r.loss / ln2, 4) + " bits/char in " +
      fixed(r.seconds, 1) + " s; static " + fixed(static_loss, 4) + " nats/char, " + fixed(static_loss / ln2, 4) +
      " bits/char in " + fixed(static_seconds, 1) + " s");
  j.update({{"lr", s.lr}, {"decay", s.decay}, {"block", s.block}, {"stats_characters", stats.characters},
            {"loss_static", static_loss}, {"loss_dynamic", r.loss}, {"bpc_static", static_loss / ln2},
            {"bpc_dynamic", r.loss / ln2}, {"seconds_static", static_seconds}, {"seconds_dynamic", r.seconds},
            {"seconds_stats", stats_seconds}});
  return j;
}

}  // namespace

int run_sample(const SampleOptions& o) {
  LoadedModel m = load_model(o.checkpoint);
  const std::vector<int> prime = m.vocab.encode(decode_utf8(o.prime, "--prime"), "--prime");
  tg::manual_seed(o.seed);
  if (o.length * o.num_samples > kMaxSampledCharacters)
    throw InputError("--length " + std::to_string(o.length) + " x --num-samples " + std::to_string(o.num_samples) +
                     " is more than " + std::to_string(kMaxSampledCharacters) + " characters; ask for fewer");
  const SamplingOptions s{o.length, o.temperature, o.top_k, o.top_p, o.num_samples};
  const auto samples = sample(*m.model, prime, s, start_id(m.vocab));
  for (std::size_t n = 0; n < samples.size(); ++n) {
    std::vector<char32_t> text;
    for (int id : samples[n]) text.push_back(m.vocab.symbol(std::size_t(id)));
    if (samples.size() > 1) std::printf("== sample %zu of %zu\n", n + 1, samples.size());
    std::printf("%s%s\n", o.prime.c_str(), encode_utf8(text).c_str());
  }
  return kOk;
}

int run_eval(const EvalOptions& o) {
  check_dynamic_flags(o);
  tg::set_num_threads(o.threads);
  LoadedModel m = load_model(o.checkpoint);
  const EvalText text = eval_text(m, o);
  const std::string part = o.dynamic_tune ? "second-half" : o.part;
  const std::vector<int> ids = part_of(text.ids, part);
  const auto t0 = Clock::now();
  const double nats = evaluate(*m.model, ids);
  const double seconds = seconds_since(t0);
  const double bpc = nats / std::log(2.0);
  // "val_loss" (the static loss) whatever was evaluated (scripts parse it); "evaluated" says what that was.
  nlohmann::json j{{"val_loss", nats}, {"val_bpc", bpc}, {"evaluated", text.evaluated}};
  if (part != "all") j["part"] = part;
  const std::string label = text.what + (part == "all" ? "" : part == "first-half" ? ", first half" : ", second half");
  if (!o.json) std::printf("%s: %zu characters, %.4f nats/char, %.4f bits/char\n", label.c_str(), ids.size(), nats, bpc);
  if (o.dynamic || o.dynamic_tune) j["dynamic"] = run_dynamic(m, o, text, ids, nats, seconds);
  if (o.json) std::printf("%s\n", j.dump().c_str());
  return kOk;
}

}  // namespace charlm
