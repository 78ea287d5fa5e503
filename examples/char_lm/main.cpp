// char_lm: a character-level language model on tapegrad.
//   char_lm train  [--data FILE] [--cell lstm|gru|rnn] ...   trains, validates, checkpoints
//   char_lm sample --checkpoint PATH [--length N] ...       prints generated text
//   char_lm eval   --checkpoint PATH [--data FILE]          validation loss in nats and bits/char
//                  [--dynamic | --dynamic-tune] ...         and with dynamic evaluation
// Exit codes: 0 success, 2 bad input or usage, 3 training (or eval --dynamic) diverged, 4 an
// I/O or environment failure, 128 + N after signal N stopped training, 1 internal errors only.
#include <cstdio>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include <tapegrad/tapegrad.hpp>

#include "data_parallel.hpp"
#include "flags.hpp"
#include "options.hpp"
#include "presets.hpp"
#include "utf8.hpp"

namespace {

using namespace charlm;
namespace lim = charlm::limits;

std::string preset_list() {
  std::string list;
  for (const Preset& p : presets()) list += (list.empty() ? "" : "; ") + std::string(p.name) + " (" + p.summary + ")";
  return list;
}

void add_train(CLI::App& app, TrainOptions& o) {
  auto* t = app.add_subcommand("train", "Train a model (and checkpoint it)");
  t->add_option("--preset", o.preset, "a named recipe setting every flag not given: " + preset_list());
  t->add_option("--data", o.data, "UTF-8 text file (default: the built-in corpus)");
  t->add_option("--cell", o.cell, "lstm, gru or rnn")->check(CLI::IsMember({"lstm", "gru", "rnn"}));
  t->add_option("--layers", o.layers, "recurrent layers")->transform(whole_flag(lim::kLayers));
  t->add_option("--hidden", o.hidden, "hidden size H")->transform(whole_flag(lim::kWidth));
  t->add_option("--embed", o.embed, "embedding size E")->transform(whole_flag(lim::kWidth));
  t->add_option("--batch", o.batch, "streams B")->transform(whole_flag(lim::kBatch));
  t->add_option("--block", o.block, "TBPTT block length T")->transform(whole_flag(lim::kBlock));
  t->add_option("--recompute-every", o.recompute_every,
                "run each block as checkpointed segments of k steps, recomputed in backward: the same gradient "
                "in memory O(T/k + k) steps instead of O(T), so a long --block fits (0: off)")
      ->transform(whole_flag(lim::kRecompute));
  t->add_option("--steps", o.steps, "total training steps (with --resume too)")->transform(whole_flag(lim::kSteps));
  t->add_option("--optim", o.optim, "adam, adamw, sgd, adagrad or rmsprop")
      ->check(CLI::IsMember({"adam", "adamw", "sgd", "adagrad", "rmsprop"}));
  t->add_option("--lr", o.lr, "learning rate")->transform(real_flag(lim::kLr));
  t->add_option("--lr-schedule", o.lr_schedule, "constant, cosine or step (x0.5 every quarter of --steps)")
      ->check(CLI::IsMember({"constant", "cosine", "step"}));
  t->add_option("--warmup", o.warmup, "linear warm-up steps before the schedule")->transform(whole_flag(lim::kCount));
  t->add_option("--clip", o.clip, "clip the gradient norm to this (0: no clipping)")->transform(real_flag(lim::kClip));
  t->add_option("--dropout", o.dropout, "dropout between recurrent layers, in [0, 1)")
      ->transform(real_flag(lim::kDropout));
  t->add_option("--seed", o.seed, "random seed")->transform(whole_flag(lim::kSeed));
  t->add_option("--threads", o.threads, "BLAS threads (capped at the number of cores)")
      ->transform(whole_flag(lim::kThreads));
  t->add_option("--val-fraction", o.val_fraction, "the last fraction F of the corpus validates")
      ->transform(real_flag(lim::kValFraction));
  t->add_option("--val-every", o.val_every, "validate (and sample) every N steps")->transform(whole_flag(lim::kEvery));
  t->add_option("--print-every", o.print_every, "progress line every N steps")->transform(whole_flag(lim::kEvery));
  t->add_option("--checkpoint", o.checkpoint, "checkpoint path (safetensors)");
  t->add_option("--save-every", o.save_every, "checkpoint every N steps (0: at the end only)")
      ->transform(whole_flag(lim::kCount));
  t->add_flag("--keep-best", o.keep_best, "also keep the best-validation checkpoint as PATH.best");
  t->add_flag("--resume", o.resume, "continue from --checkpoint (model flags come from it)");
  t->add_flag("--overwrite", o.overwrite, "replace an existing --checkpoint with a new run (without it, train refuses)");
  t->add_option("--log", o.log, "CSV log (step, train_loss, val_loss, val_bpc, lr, tokens_per_s, seconds, train_seconds); "
                                "a loss-curve SVG is written beside it");
  t->add_option("--max-seconds", o.max_seconds, "stop after this much training time, saving a checkpoint")
      ->transform(whole_flag(lim::kCount));
  t->add_flag("--json", o.json, "end with one JSON line of results");
  t->add_flag("--distributed", o.distributed,
              "data-parallel over the ranks of `mpirun -np N` (each trains on B/N of the streams; "
              "only rank 0 prints, validates and checkpoints)");
  t->callback([t, &o] {
    for (const auto* opt : t->get_options())
      if (opt->count() > 0) o.given.insert(opt->get_name());
  });
}

void add_sample(CLI::App& app, SampleOptions& o) {
  auto* s = app.add_subcommand("sample", "Generate text from a checkpoint");
  s->add_option("--checkpoint", o.checkpoint, "checkpoint path");
  s->add_option("--length", o.length, "characters to generate")->transform(whole_flag(lim::kLength));
  s->add_option("--temperature", o.temperature, "softmax temperature; 0 is greedy")
      ->transform(real_flag(lim::kTemperature));
  s->add_option("--top-k", o.top_k, "sample among the k likeliest characters only (0: all)")
      ->transform(whole_flag(lim::kTopK));
  s->add_option("--top-p", o.top_p, "sample among the fewest likeliest characters whose probabilities reach p "
                                    "(nucleus sampling; 1: all)")
      ->transform(real_flag(lim::kTopP));
  s->add_option("--num-samples", o.num_samples, "samples drawn side by side as one batch")
      ->transform(whole_flag(lim::kSamples));
  s->add_option("--prime", o.prime, "text to start from (every character must be in the vocabulary)");
  s->add_option("--seed", o.seed, "random seed")->transform(whole_flag(lim::kSeed));
}

void add_eval(CLI::App& app, EvalOptions& o) {
  auto* e = app.add_subcommand("eval", "Validation loss of a checkpoint");
  e->add_option("--checkpoint", o.checkpoint, "checkpoint path");
  e->add_option("--data", o.data, "text to evaluate on (default: the checkpoint's validation split; a file "
                                  "given here is evaluated whole, or the half --part names)");
  e->add_option("--part", o.part, "evaluate all of the text, or its first or second half (each read from a zero state)")
      ->check(CLI::IsMember({"all", "first-half", "second-half"}));
  e->add_option("--threads", o.threads, "BLAS threads (capped at the number of cores)")
      ->transform(whole_flag(lim::kThreads));
  e->add_flag("--json", o.json, "end with one JSON line");
  e->add_flag("--dynamic", o.dynamic, "also dynamic evaluation: a gradient step on each segment after scoring it "
                                      "(the checkpoint is not changed)");
  e->add_flag("--dynamic-tune", o.dynamic_tune, "dynamic evaluation with --dynamic-lr and --dynamic-decay searched on "
                                                "the text's first half, reported on its second half");
  e->add_option("--dynamic-lr", o.dynamic_lr, "dynamic evaluation's step size eta (RMS-normalised; 0: the static loss)")
      ->transform(real_flag(lim::kDynamicLr));
  e->add_option("--dynamic-decay", o.dynamic_decay, "dynamic evaluation's decay lambda toward the trained weights")
      ->transform(real_flag(lim::kDynamicDecay));
  e->add_option("--dynamic-block", o.dynamic_block, "dynamic evaluation's segment length n (one step per segment)")
      ->transform(whole_flag(lim::kBlock));
  e->add_option("--dynamic-stats", o.dynamic_stats, "training characters read for the gradient RMS statistics "
                                                    "(at most the training split)")
      ->transform(whole_flag(lim::kDynamicStats));
  e->callback([e, &o] {
    for (const auto* opt : e->get_options())
      if (opt->count() > 0) o.given.insert(opt->get_name());
  });
}

// The one line on stderr: control characters as \xNN (a message may quote input), at most
// kMaxMessage bytes, cut with "…".
constexpr std::size_t kMaxMessage = 300;
std::string one_line(const std::string& message) { return tg::quote_input(message, kMaxMessage); }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"char_lm: a character-level language model on tapegrad " TAPEGRAD_VERSION};
  app.require_subcommand(0, 1);
  app.option_defaults()->always_capture_default();  // --help shows every default
  TrainOptions train;
  SampleOptions sample;
  EvalOptions eval;
  add_train(app, train);
  add_sample(app, sample);
  add_eval(app, eval);
  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help: prints help, exit 0
  } catch (const CLI::ParseError& e) {
    std::cerr << one_line(std::string("char_lm: ") + e.what() + " (see char_lm --help)") << "\n";
    return kBadInput;
  }
  // Under mpirun (train --distributed), one rank's failure ends every rank, so none waits
  // forever in a collective: "rank R: char_lm: <message>", then MPI_Abort with the exit code.
  std::unique_ptr<MpiRuntime> mpi;
  auto fail = [&mpi](const std::string& message, int code) {
    if (mpi) mpi->abort(one_line(message), code);
    std::cerr << one_line(message) << "\n";
    return code;
  };
  try {
    if (app.got_subcommand("train")) {
      if (train.distributed) mpi = std::make_unique<MpiRuntime>();
      return run_train(train);
    }
    if (app.got_subcommand("sample")) return run_sample(sample);
    if (app.got_subcommand("eval")) return run_eval(eval);
    std::cout << app.help();  // bare char_lm
    return kOk;
  } catch (const InputError& e) {
    return fail(std::string("char_lm: ") + e.what(), kBadInput);
  } catch (const Utf8Error& e) {
    return fail(std::string("char_lm: ") + e.what(), kBadInput);
  } catch (const tg::NonFiniteError& e) {  // eval --dynamic with too large a step size
    return fail(std::string("char_lm: ") + e.what(), kDiverged);
  } catch (const EnvironmentError& e) {
    return fail(std::string("char_lm: ") + e.what(), kEnvironment);
  } catch (const tg::BlasLibraryError& e) {  // LD_LIBRARY_PATH loaded another OpenBLAS build
    return fail(std::string("char_lm: ") + e.what(), kEnvironment);
  } catch (const tg::FileIoError& e) {  // the system's failure, not the file's content
    return fail(std::string("char_lm: ") + e.what(), kEnvironment);
  } catch (const tg::CheckpointError& e) {
    return fail(std::string("char_lm: ") + e.what(), kBadInput);
  } catch (const std::invalid_argument& e) {
    return fail(std::string("char_lm: ") + e.what(), kBadInput);
  } catch (const tg::AllocationError& e) {  // names what needed the memory
    return fail(std::string("char_lm: ") + e.what() +
                    "; free memory, or use a smaller model (--hidden, --layers, --embed) or batch (--batch, --block)",
                kEnvironment);
  } catch (const std::bad_alloc&) {
    return fail("char_lm: out of memory; use a smaller model (--hidden, --layers, --embed) or batch (--batch, --block)",
                kEnvironment);
  } catch (const std::exception& e) {
    return fail(std::string("char_lm: error: ") + e.what(), kFailure);
  }
}
