#pragma once
// What training tells the user: a live progress line (a \r-updated line on a terminal, plain
// periodic lines otherwise), the CSV log, and the loss-curve SVG drawn from that log.
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

namespace charlm {

// The clock of every reported time (training, validation, eval).
using Clock = std::chrono::steady_clock;
inline double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

struct ReportRow {
  std::size_t step = 0;
  std::optional<double> train_loss, val_loss, val_bpc;
  double lr = 0, tokens_per_s = 0;
  double seconds = 0;        // wall clock since setup: validation, samples and saves included
  double train_seconds = 0;  // the training steps only (this process's)
};

class Progress {
 public:
  // quiet: print nothing (the ranks other than 0 of a distributed run).
  explicit Progress(std::size_t total_steps, bool quiet = false);
  void update(const ReportRow& r, double eta_seconds);
  void message(const std::string& line);  // a whole line, never overwritten

 private:
  std::size_t total_;
  bool tty_;
  bool quiet_;
  bool open_line_ = false;  // a \r line is showing
};

class CsvLog {
 public:
  // Appends to `path` (writing the header if the file is new or empty); "" logs nothing. A log
  // begun before the train_seconds column keeps its seven columns.
  // A failed open or write is an EnvironmentError naming the file and the system's reason.
  explicit CsvLog(const std::string& path);
  ~CsvLog();
  void write(const ReportRow& r);
  // Draws every row of the CSV at `csv_path` into an SVG loss curve at `svg_path`.
  static void plot(const std::string& csv_path, const std::string& svg_path);
  const std::string& path() const { return path_; }

 private:
  void check_written();  // EnvironmentError (exit 4) when the disk refused a write
  std::string path_;
  std::FILE* file_ = nullptr;
  bool train_seconds_column_ = true;
};

// "run.csv" -> "run.svg"
std::string svg_path_for(const std::string& csv_path);

}  // namespace charlm
