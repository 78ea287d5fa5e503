// Reduced versions of the sequence-task experiments (examples/seq_tasks, docs/experiments.md):
// each trains real models with the library and asserts the qualitative result as a ratio, with
// one budget shared by every cell (the same reduced config the `--quick` flag runs).
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include <unistd.h>

#include "char_lm_cells.hpp"
#include "classify_lengths.hpp"
#include "recurrent_factory.hpp"
#include "reverse_attention.hpp"
#include "reverse_strings.hpp"
#include "spell_numbers.hpp"

TEST_SUITE("heavy") {

TEST_CASE("reverse strings: every cell's exact match is at least 3x the most frequent string") {
  const seqtasks::ReverseConfig c = seqtasks::reduced_reverse_config();
  for (const std::string& cell : seqtasks::all_cells()) {
    const seqtasks::ReverseResult r = seqtasks::run_reverse_strings(cell, c);
    INFO(cell << ": exact match " << r.exact_match << ", baseline " << r.baseline << ", char accuracy " << r.char_accuracy);
    CHECK(r.baseline > 0.0);  // the one-string answer is right for some strings
    CHECK(r.exact_match >= 3.0 * r.baseline);
    // The shortest strings are learnt first: length 1 at least as well as the longest length.
    CHECK(r.exact_by_length.front() >= r.exact_by_length.back());
  }
}

TEST_CASE("reverse attention: on the longest strings attention's token accuracy beats the plain decoder's by 30 points") {
  const seqtasks::AttentionLengthConfig c = seqtasks::reduced_attention_length_config();
  const seqtasks::AttentionLengthResult plain = seqtasks::run_reverse_attention(false, c);
  const seqtasks::AttentionLengthResult with = seqtasks::run_reverse_attention(true, c);
  REQUIRE(plain.buckets.size() == with.buckets.size());
  const seqtasks::LengthBucket& p = plain.buckets.back();
  const seqtasks::LengthBucket& a = with.buckets.back();
  INFO("lengths " << a.min_length << "-" << a.max_length << ": token accuracy " << a.token_accuracy << " with attention, "
       << p.token_accuracy << " without");
  CHECK(a.strings > 20);
  CHECK(a.token_accuracy >= p.token_accuracy + 0.3);
  // The attention map is the reversal's alignment: output step t looks hardest at source letter
  // L-1-t for most steps of the longest string (read, not assumed: the model is free to look anywhere).
  const std::size_t L = with.example_source.size();
  REQUIRE(with.example_weights.size() >= 1);
  std::size_t aligned = 0, steps = std::min(L, with.example_weights.size());
  for (std::size_t t = 0; t < steps; ++t) {
    const auto& row = with.example_weights[t];
    REQUIRE(row.size() == L);
    aligned += std::size_t(std::max_element(row.begin(), row.end()) - row.begin()) == L - 1 - t;
  }
  INFO(aligned << " of " << steps << " steps look hardest at the mirrored letter");
  CHECK(double(aligned) >= 0.8 * double(steps));
  CHECK(plain.example_weights.empty());  // the plain decoder has no attention to show
}

TEST_CASE("classify lengths: with the mask the gated cells halve the majority class error") {
  const seqtasks::ClassifyConfig c = seqtasks::reduced_classify_config();
  for (const std::string cell : {"lstm", "gru"}) {
    const seqtasks::ClassifyResult r = seqtasks::run_classify_lengths(cell, true, c);
    INFO(cell << ": accuracy " << r.accuracy << ", majority class " << r.majority_baseline);
    CHECK(r.majority_baseline > 0.4);  // balanced labels: the majority class is right about half the time
    CHECK(1.0 - r.accuracy <= 0.5 * (1.0 - r.majority_baseline));
  }
}

TEST_CASE("classify lengths: the mask halves the lstm's error against reading the state after the padding") {
  const seqtasks::ClassifyConfig c = seqtasks::reduced_classify_config();
  const seqtasks::ClassifyResult masked = seqtasks::run_classify_lengths("lstm", true, c);
  const seqtasks::ClassifyResult padded = seqtasks::run_classify_lengths("lstm", false, c);
  INFO("masked " << masked.accuracy << ", unmasked " << padded.accuracy);
  CHECK(1.0 - masked.accuracy <= 0.5 * (1.0 - padded.accuracy));
}

TEST_CASE("spell numbers: every cell spells the digit names 3x better than the most frequent name") {
  const seqtasks::SpellConfig c = seqtasks::reduced_spell_config();
  double held_out_sum = 0;
  for (const std::string& cell : seqtasks::all_cells()) {
    const seqtasks::SpellResult digits = seqtasks::run_spell(cell, seqtasks::SpellTask::digits, c);
    INFO(cell << ": digits exact " << digits.train_exact << ", baseline " << digits.baseline);
    CHECK(digits.baseline == doctest::Approx(0.1));  // ten distinct names
    CHECK(digits.train_exact >= 3.0 * digits.baseline);
    const seqtasks::SpellResult numbers = seqtasks::run_spell(cell, seqtasks::SpellTask::numbers, c);
    held_out_sum += numbers.held_out_exact;
  }
  // Composition: on average over the cells, at least 3 of the 20 never-seen numbers are spelt
  // exactly (3x a single lucky word).
  CHECK(held_out_sum / 3.0 >= 3.0 / 20.0);
}

TEST_CASE("char lm cells: every cell beats the unigram entropy after a tiny run") {
  seqtasks::CharLmConfig c;
  c.char_lm = TAPEGRAD_CHAR_LM;
  c.data = std::string(TAPEGRAD_SOURCE_DIR) + "/examples/char_lm/builtin_corpus.txt";
  c.work_dir = (std::filesystem::temp_directory_path() / ("test_seq_tasks." + std::to_string(getpid()))).string();
  c.steps = 150, c.hidden = 64, c.embed = 16, c.tokens_per_step = 512, c.val_every = 50;
  const double unigram = seqtasks::unigram_bits_per_char(c.data);
  CHECK(unigram > 3.0);  // tinyshakespeare: ~4.7 bits/char
  for (const std::string& cell : seqtasks::all_cells()) {
    const seqtasks::CharLmOutcome o = seqtasks::run_char_lm(c, {cell, 32, 16});
    INFO(cell << ": " << o.val_bpc << " bits/char against the unigram's " << unigram);
    CHECK(o.parameters > 0);
    CHECK(o.tokens_per_s > 0);
    CHECK(o.val_bpc < unigram);  // it has learnt something a context-free model cannot
  }
  std::filesystem::remove_all(c.work_dir);
}

}  // TEST_SUITE("heavy")
