// char_lm sample and char_lm eval: they need only the checkpoint.
#include <cmath>
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

// The id to start from without a prime: a newline if the vocabulary has one.
int start_id(const Vocabulary& v) {
  for (std::size_t i = 0; i < v.size(); ++i)
    if (v.symbol(i) == U'\n') return int(i);
  return 0;
}

}  // namespace

int run_sample(const SampleOptions& o) {
  LoadedModel m = load_model(o.checkpoint);
  const std::vector<int> prime = m.vocab.encode(decode_utf8(o.prime, "--prime"), "--prime");
  tg::manual_seed(o.seed);
  const std::vector<int> ids = sample(*m.model, prime, o.length, o.temperature, o.top_k, start_id(m.vocab));
  std::vector<char32_t> text;
  for (int id : ids) text.push_back(m.vocab.symbol(std::size_t(id)));
  std::printf("%s%s\n", o.prime.c_str(), encode_utf8(text).c_str());
  return kOk;
}

int run_eval(const EvalOptions& o) {
  tg::set_num_threads(o.threads);
  LoadedModel m = load_model(o.checkpoint);
  std::vector<int> ids;
  std::string what;
  if (o.data.empty()) {  // the validation split of the corpus the model trained on
    const std::string name = required(m.meta, "corpus.name", o.checkpoint);
    if (name != "built-in corpus") check_readable_file("the corpus named by the checkpoint " + shown(o.checkpoint), name);
    Corpus corpus = name == "built-in corpus" ? builtin_corpus() : read_corpus(name);
    if (hash_text(corpus.hash) != required(m.meta, "corpus.hash", o.checkpoint))
      throw InputError(name + " has changed since the checkpoint was written; pass --data");
    const double f = parse_real_in(required(m.meta, "train.val_fraction", o.checkpoint), limits::kValFraction,
                                   "the checkpoint's metadata 'train.val_fraction'");
    ids = split_corpus(m.vocab.encode(corpus.text, corpus.name), f).val;
    what = name + " (validation split)";
  } else {
    check_readable_file("--data", o.data);
    Corpus corpus = read_corpus(o.data);
    ids = m.vocab.encode(corpus.text, corpus.name);
    what = o.data;
  }
  const double nats = evaluate(*m.model, ids);
  const double bpc = nats / std::log(2.0);
  if (o.json) {
    std::printf("%s\n", nlohmann::json{{"val_loss", nats}, {"val_bpc", bpc}}.dump().c_str());
  } else {
    std::printf("%s: %zu characters, %.4f nats/char, %.4f bits/char\n", what.c_str(), ids.size(), nats, bpc);
  }
  return kOk;
}

}  // namespace charlm
