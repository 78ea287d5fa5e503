#include "report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "common/svg_plot.hpp"
#include "options.hpp"
#include "paths.hpp"

namespace charlm {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string duration(double s) {
  const long t = long(s + 0.5);
  char buf[32];
  if (t >= 3600) std::snprintf(buf, sizeof buf, "%ldh%02ldm", t / 3600, (t / 60) % 60);
  else std::snprintf(buf, sizeof buf, "%ldm%02lds", t / 60, t % 60);
  return buf;
}

}  // namespace

Progress::Progress(std::size_t total, bool quiet)
    : total_(total), tty_(isatty(fileno(stdout)) != 0), quiet_(quiet) {}

void Progress::update(const ReportRow& r, double eta) {
  if (quiet_) return;
  std::string line = "step " + std::to_string(r.step) + "/" + std::to_string(total_) +
                     "  loss " + (r.train_loss ? fmt("%.4f", *r.train_loss) : "-") + "  " +
                     fmt("%.0f", r.tokens_per_s) + " tok/s  lr " + fmt("%.3g", r.lr) + "  ETA " + duration(eta);
  if (tty_) {
    std::printf("\r%-78s", line.c_str());
    open_line_ = true;
  } else {
    std::printf("%s\n", line.c_str());
  }
  std::fflush(stdout);
}

void Progress::message(const std::string& line) {
  if (quiet_) return;
  if (open_line_) std::printf("\n");
  open_line_ = false;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

CsvLog::CsvLog(const std::string& path) : path_(path) {
  if (path.empty()) return;
  std::ifstream existing(path);
  std::string header;
  const bool fresh = !std::getline(existing, header) || header.empty();
  train_seconds_column_ = fresh || header.find(",train_seconds") != std::string::npos;
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw EnvironmentError("--log " + shown(path) + ": cannot open it for writing: " + std::strerror(errno));
  if (fresh) std::fprintf(file_, "step,train_loss,val_loss,val_bpc,lr,tokens_per_s,seconds,train_seconds\n");
  check_written();
}

void CsvLog::check_written() {
  if (std::fflush(file_) != 0 || std::ferror(file_))
    throw EnvironmentError("--log " + shown(path_) + ": write failed: " + std::strerror(errno));
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

void CsvLog::write(const ReportRow& r) {
  if (!file_) return;
  auto opt = [](const std::optional<double>& v) { return v ? fmt("%.6f", *v) : std::string(); };
  std::fprintf(file_, "%zu,%s,%s,%s,%.6g,%.1f,%.3f", r.step, opt(r.train_loss).c_str(), opt(r.val_loss).c_str(),
               opt(r.val_bpc).c_str(), r.lr, r.tokens_per_s, r.seconds);
  if (train_seconds_column_) std::fprintf(file_, ",%.3f", r.train_seconds);
  std::fprintf(file_, "\n");
  check_written();
}

std::string svg_path_for(const std::string& csv) {
  const auto dot = csv.rfind('.');
  const auto slash = csv.rfind('/');
  const bool has_ext = dot != std::string::npos && (slash == std::string::npos || dot > slash);
  return (has_ext ? csv.substr(0, dot) : csv) + ".svg";
}

void CsvLog::plot(const std::string& csv_path, const std::string& svg_path) {
  std::ifstream in(csv_path);
  std::string line;
  std::getline(in, line);  // header
  tgex::Series train("train (mean since last)"), val("validation");
  val.markers = true;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    if (f.size() < 3) continue;
    const double step = std::atof(f[0].c_str());
    if (!f[1].empty()) train.x.push_back(step), train.y.push_back(std::atof(f[1].c_str()));
    if (!f[2].empty()) val.x.push_back(step), val.y.push_back(std::atof(f[2].c_str()));
  }
  if (train.x.empty() && val.x.empty()) return;
  tgex::Chart chart;
  chart.options.title = "char_lm: loss (nats/char) by step";
  chart.options.x_label = "step";
  chart.options.y_label = "loss (nats/char)";
  chart.options.x_min = 0;
  chart.series = {train, val};
  try {
    tgex::write_svg(svg_path, chart);
  } catch (const std::runtime_error& e) {
    throw EnvironmentError(std::string("the loss curve ") + e.what());
  }
}

}  // namespace charlm
