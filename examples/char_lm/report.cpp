#include "report.hpp"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <vector>

#include "options.hpp"

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

Progress::Progress(std::size_t total) : total_(total), tty_(isatty(fileno(stdout)) != 0) {}

void Progress::update(const ReportRow& r, double eta) {
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
  if (open_line_) std::printf("\n");
  open_line_ = false;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

CsvLog::CsvLog(const std::string& path) : path_(path) {
  if (path.empty()) return;
  std::ifstream existing(path);
  const bool fresh = !existing.good() || existing.peek() == std::ifstream::traits_type::eof();
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) throw InputError("--log " + path + ": cannot open for writing");
  if (fresh) std::fprintf(file_, "step,train_loss,val_loss,val_bpc,lr,tokens_per_s,seconds\n");
}

CsvLog::~CsvLog() {
  if (file_) std::fclose(file_);
}

void CsvLog::write(const ReportRow& r) {
  if (!file_) return;
  auto opt = [](const std::optional<double>& v) { return v ? fmt("%.6f", *v) : std::string(); };
  std::fprintf(file_, "%zu,%s,%s,%s,%.6g,%.1f,%.3f\n", r.step, opt(r.train_loss).c_str(), opt(r.val_loss).c_str(),
               opt(r.val_bpc).c_str(), r.lr, r.tokens_per_s, r.seconds);
  std::fflush(file_);
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
  std::vector<std::pair<double, double>> train, val;
  while (std::getline(in, line)) {
    std::vector<std::string> f;
    std::stringstream ss(line);
    std::string cell;
    while (std::getline(ss, cell, ',')) f.push_back(cell);
    if (f.size() < 3) continue;
    const double step = std::atof(f[0].c_str());
    if (!f[1].empty()) train.emplace_back(step, std::atof(f[1].c_str()));
    if (!f[2].empty()) val.emplace_back(step, std::atof(f[2].c_str()));
  }
  if (train.empty() && val.empty()) return;
  double x1 = 1, y0 = 1e30, y1 = -1e30;
  for (const auto* s : {&train, &val})
    for (auto [x, y] : *s) {
      x1 = std::max(x1, x);
      y0 = std::min(y0, y);
      y1 = std::max(y1, y);
    }
  y0 = std::floor(y0 * 2) / 2;  // round the range out to half nats
  y1 = std::max(y0 + 0.5, std::ceil(y1 * 2) / 2);
  const double W = 720, H = 420, L = 60, R = 20, T = 30, B = 50;  // canvas and margins
  auto px = [&](double x) { return L + (W - L - R) * x / x1; };
  auto py = [&](double y) { return T + (H - T - B) * (1 - (y - y0) / (y1 - y0)); };
  std::ofstream svg(svg_path);
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << W << "' height='" << H << "' font-family='sans-serif' font-size='12'>\n"
      << "<rect width='100%' height='100%' fill='white'/>\n"
      << "<text x='" << W / 2 << "' y='18' text-anchor='middle' font-size='14'>char_lm: loss (nats/char) by step</text>\n";
  for (int i = 0; i <= 5; ++i) {  // grid and labels
    const double y = y0 + (y1 - y0) * i / 5, x = x1 * i / 5;
    svg << "<line x1='" << L << "' x2='" << W - R << "' y1='" << py(y) << "' y2='" << py(y) << "' stroke='#ddd'/>"
        << "<text x='" << L - 6 << "' y='" << py(y) + 4 << "' text-anchor='end'>" << fmt("%.2f", y) << "</text>\n"
        << "<text x='" << px(x) << "' y='" << H - B + 18 << "' text-anchor='middle'>" << long(x) << "</text>\n";
  }
  svg << "<text x='" << W / 2 << "' y='" << H - 8 << "' text-anchor='middle'>step</text>\n";
  auto polyline = [&](const std::vector<std::pair<double, double>>& s, const char* color) {
    svg << "<polyline fill='none' stroke='" << color << "' stroke-width='1.5' points='";
    for (auto [x, y] : s) svg << px(x) << "," << py(y) << " ";
    svg << "'/>\n";
  };
  polyline(train, "#1f77b4");
  polyline(val, "#d62728");
  for (auto [x, y] : val) svg << "<circle cx='" << px(x) << "' cy='" << py(y) << "' r='3' fill='#d62728'/>\n";
  svg << "<text x='" << W - R - 150 << "' y='" << T + 16 << "' fill='#1f77b4'>train (mean since last)</text>\n"
      << "<text x='" << W - R - 150 << "' y='" << T + 32 << "' fill='#d62728'>validation</text>\n</svg>\n";
}

}  // namespace charlm
