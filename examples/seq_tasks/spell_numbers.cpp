#include "spell_numbers.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "recurrent_factory.hpp"
#include "token_decoder.hpp"

namespace seqtasks {
namespace {

// Letters and the space: token ids 1..27 (0 is the decoder's start/end symbol).
constexpr std::size_t kVocab = 28;
int letter_id(char ch) { return ch == ' ' ? 27 : 1 + (ch - 'a'); }
char id_letter(int id) { return id == 27 ? ' ' : char('a' + id - 1); }
Tokens spell_ids(const std::string& word) {
  Tokens t;
  for (char ch : word) t.push_back(letter_id(ch));
  return t;
}
std::string letters(const Tokens& t) {
  std::string s;
  for (int id : t) s += id > 0 && id < int(kVocab) ? id_letter(id) : '?';
  return s;
}

// Input vector -> initial state (one tanh(Linear) per state tensor) -> TokenDecoder.
class Speller : public tg::Module {
 public:
  Speller(const std::string& cell, std::size_t input, const SpellConfig& c) : decoder_(cell, kVocab, c.embed, c.hidden) {
    const std::size_t state_tensors = decoder_.rnn().cell(0).state_size();  // h, or h and c
    for (std::size_t k = 0; k < state_tensors; ++k) {
      to_state_.push_back(std::make_unique<tg::Linear>(input, c.hidden));
      register_module("to_state" + std::to_string(k), *to_state_.back());
    }
    register_module("decoder", decoder_);
  }
  tg::State initial(const tg::Tensor& x) const {  // x [B, D] -> {h0 [B, H], (c0 [B, H])}
    tg::State s;
    for (const auto& lin : to_state_) s.push_back(tg::tanh((*lin)(x)));
    return s;
  }
  tg::Tensor loss(const tg::Tensor& x, const std::vector<Tokens>& words) const {
    return decoder_.loss({initial(x)}, words);
  }
  std::vector<Tokens> spell(const tg::Tensor& x, std::size_t max_length) const {
    tg::NoGradGuard no_grad;
    return decoder_.greedy(initial(x), x.shape()[0], max_length + 1);
  }

 private:
  std::vector<std::unique_ptr<tg::Linear>> to_state_;  // [D] -> [H] each
  TokenDecoder decoder_;
};

struct WordSet {
  std::vector<std::size_t> numbers;
  xt::xarray<float> inputs;  // [N, D]
  std::vector<Tokens> words;
};

WordSet make_set(const std::vector<std::size_t>& numbers, SpellTask task) {
  const std::size_t D = task == SpellTask::digits ? 10 : 20;
  WordSet s;
  s.numbers = numbers;
  s.inputs = xt::zeros<float>({numbers.size(), D});
  for (std::size_t i = 0; i < numbers.size(); ++i) {
    if (task == SpellTask::digits) {
      s.inputs(i, numbers[i]) = 1.0f;
    } else {
      s.inputs(i, numbers[i] / 10) = 1.0f;       // one-hot(tens)
      s.inputs(i, 10 + numbers[i] % 10) = 1.0f;  // one-hot(units)
    }
    s.words.push_back(spell_ids(number_name(numbers[i])));
  }
  return s;
}

}  // namespace

std::string number_name(std::size_t n) {
  static const char* small[] = {"zero",    "one",     "two",       "three",    "four",     "five",    "six",
                                "seven",   "eight",   "nine",      "ten",      "eleven",   "twelve",  "thirteen",
                                "fourteen", "fifteen", "sixteen",  "seventeen", "eighteen", "nineteen"};
  static const char* tens[] = {"", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"};
  if (n < 20) return small[n];
  return std::string(tens[n / 10]) + (n % 10 ? std::string(" ") + small[n % 10] : std::string());
}

SpellResult run_spell(const std::string& cell, SpellTask task, const SpellConfig& c) {
  const RunTimer timer;
  tg::manual_seed(c.seed);
  std::vector<std::size_t> train_numbers, held_numbers;
  if (task == SpellTask::digits) {
    for (std::size_t n = 0; n < 10; ++n) train_numbers.push_back(n);
  } else {
    std::vector<std::size_t> compositional;  // 21..99 without the multiples of ten
    for (std::size_t n = 21; n < 100; ++n)
      if (n % 10) compositional.push_back(n);
    DataRng rng(c.seed * 2 + 1);
    for (std::size_t i = compositional.size(); i > 1; --i) std::swap(compositional[i - 1], compositional[rng.below(i)]);
    held_numbers.assign(compositional.begin(), compositional.begin() + long(c.held_out));
    std::sort(held_numbers.begin(), held_numbers.end());
    for (std::size_t n = 0; n < 100; ++n)
      if (!std::binary_search(held_numbers.begin(), held_numbers.end(), n)) train_numbers.push_back(n);
  }
  const WordSet train = make_set(train_numbers, task), held = make_set(held_numbers, task);
  std::size_t max_length = 0;
  for (const auto* set : {&train, &held})
    for (const Tokens& w : set->words) max_length = std::max(max_length, w.size());
  const tg::Tensor train_x = tg::Tensor::constant(train.inputs);  // [N, D]
  const tg::Tensor held_x = held.numbers.empty() ? tg::Tensor() : tg::Tensor::constant(held.inputs);

  Speller model(cell, train.inputs.shape()[1], c);
  const std::vector<tg::Tensor> params = model.parameters();
  tg::Adam opt(params, tg::AdamOptions(c.lr));
  SpellResult r;
  r.cell = cell;
  r.task = task;
  r.parameters = model.parameter_count();
  const std::size_t steps = task == SpellTask::digits ? c.digit_steps : c.number_steps;
  double window_loss = 0;
  std::size_t window = 0;
  for (std::size_t step = 1; step <= steps; ++step) {
    window_loss += train_step(model.loss(train_x, train.words), opt, params, c.clip);
    ++window;
    if (step % c.eval_every == 0 || step == steps) {
      const MatchScore tr = score_predictions(model.spell(train_x, max_length), train.words);
      MatchScore ho{std::nan(""), std::nan("")};
      if (held_x.defined()) ho = score_predictions(model.spell(held_x, max_length), held.words);
      r.curve.push_back({step, window_loss / double(window), tr.exact, ho.exact});
      if (tr.exact == 1.0 && r.steps_to_all_train < 0) r.steps_to_all_train = long(step);
      r.train_exact = tr.exact;
      r.train_char = tr.per_token;
      r.held_out_exact = ho.exact;
      r.held_out_char = ho.per_token;
      window_loss = 0;
      window = 0;
    }
  }
  if (held_x.defined()) {
    const std::vector<Tokens> spelled = model.spell(held_x, max_length);
    for (std::size_t i = 0; i < spelled.size(); ++i)
      r.held_out_samples.push_back(number_name(held.numbers[i]) + " -> " + letters(spelled[i]));
    r.baseline = most_frequent_baseline(train.words, held.words);
  } else {
    r.baseline = most_frequent_baseline(train.words, train.words);
  }
  r.wall_seconds = timer.wall_seconds();
  r.cpu_seconds = timer.cpu_seconds();
  return r;
}

}  // namespace seqtasks
