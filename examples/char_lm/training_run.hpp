#pragma once
// One char_lm training run: set up (and, with --resume, restored) when it is built, then
// run() until the last step, a stop signal (Note [signals]) or divergence.
//   T block length, B streams, V vocabulary, H hidden, L layers
#include <chrono>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <tapegrad/tapegrad.hpp>

#include "corpus.hpp"
#include "data_parallel.hpp"
#include "model.hpp"
#include "options.hpp"
#include "report.hpp"
#include "session.hpp"

namespace charlm {

class TrainingRun {
 public:
  explicit TrainingRun(const TrainOptions& options);
  // The exit code: kOk, kDiverged, or kSignalBase + the stop signal.
  int run();

 private:
  void restore();
  std::map<std::string, std::string> settings() const;
  void save(const std::string& path);
  void train_step(std::size_t next);
  bool validate();
  ReportRow report_row(bool with_val);
  int interrupted();
  int diverged(std::size_t at, const std::string& why);
  int finish();

  TrainOptions o_;
  DataParallel dp_;
  Corpus corpus_;
  tg::CheckpointSummary stored_;  // the checkpoint's metadata and shapes, on --resume
  Metadata& meta_ = stored_.metadata;
  Vocabulary vocab_;
  std::vector<int> ids_;
  Split split_;
  std::unique_ptr<StreamBatcher> batcher_;
  ModelConfig config_;
  std::size_t local_batch_ = 0, first_stream_ = 0;
  std::unique_ptr<CharLM> model_;
  std::unique_ptr<tg::Optimizer> opt_;
  std::unique_ptr<tg::LRScheduler> sched_;
  std::unique_ptr<tg::TBPTT> tbptt_;
  std::vector<tg::Tensor> params_;
  std::size_t schedule_steps_ = 0, step_ = 0, saved_step_ = 0;
  bool saved_ = false;  // a checkpoint of this run (or the resumed one) is on disk
  double best_val_ = std::numeric_limits<double>::infinity(), divergence_limit_ = 0;
  std::string rng_key_;
  // Progress of this invocation: only rank 0 prints and logs.
  std::unique_ptr<Progress> progress_;
  std::unique_ptr<CsvLog> log_;
  double train_time_ = 0, window_loss_ = 0, last_train_loss_ = std::nan(""), val_loss_ = std::nan("");
  std::size_t window_steps_ = 0, trained_steps_ = 0;
  Clock::time_point wall_start_ = Clock::now();
};

}  // namespace charlm
