// char_lm sample and char_lm eval: they need only the checkpoint.
#include <cmath>
#include <filesystem>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "corpus.hpp"
#include "evaluate.hpp"
#include "flags.hpp"
#include "options.hpp"
#include "paths.hpp"
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
// that exists must have the recorded hash.
Corpus training_corpus(const Metadata& meta, const std::string& checkpoint) {
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
      throw InputError(shown(path) + " has changed since " + shown(checkpoint) + " was trained on it; pass --data");
    return corpus;
  }
  throw InputError("cannot find " + shown(name) + ", the corpus " + shown(checkpoint) +
                   " was trained on, in the working directory or beside the checkpoint; pass --data");
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
  tg::set_num_threads(o.threads);
  LoadedModel m = load_model(o.checkpoint);
  std::vector<int> ids;
  std::string what;
  if (o.data.empty()) {  // the validation split of the corpus the model trained on
    const Corpus corpus = training_corpus(m.meta, o.checkpoint);
    const double f = parse_real_in(required(m.meta, "train.val_fraction", o.checkpoint), limits::kValFraction,
                                   "the checkpoint's metadata 'train.val_fraction'");
    ids = split_corpus(m.vocab.encode(corpus.text, corpus.name), f).val;
    what = corpus.name + " (validation split)";
  } else {
    check_readable_file("--data", o.data);
    Corpus corpus = read_corpus(o.data);
    ids = m.vocab.encode(corpus.text, corpus.name);
    what = o.data;
  }
  const double nats = evaluate(*m.model, ids);
  const double bpc = nats / std::log(2.0);
  if (o.json) {
    // "val_loss" whatever was evaluated (scripts parse it); "evaluated" says what that was.
    const std::string evaluated = o.data.empty() ? "validation" : o.data;
    std::printf("%s\n", nlohmann::json{{"val_loss", nats}, {"val_bpc", bpc}, {"evaluated", evaluated}}.dump().c_str());
  } else {
    std::printf("%s: %zu characters, %.4f nats/char, %.4f bits/char\n", what.c_str(), ids.size(), nats, bpc);
  }
  return kOk;
}

}  // namespace charlm
