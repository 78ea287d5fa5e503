#pragma once
// A small SVG line-chart writer shared by the examples (char_lm's loss curve, the experiments).
// A chart holds named series of (x, y) points, a title and axis labels, on a linear or log10 y
// axis. Several charts can share one picture as panels side by side (write_svg_panels).
//
// Note [zeros on a log axis]: log10(0) does not exist, yet an exact zero is a real measurement
// (e.g. a gradient that underflowed). On a log axis every non-positive y is drawn as a marked
// point on a separate "0" row below the axis instead of being dropped, and the line breaks there.
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace tgex {

struct Series {
  Series() = default;
  explicit Series(std::string name_, std::vector<double> x_ = {}, std::vector<double> y_ = {})
      : name(std::move(name_)), x(std::move(x_)), y(std::move(y_)) {}
  std::string name;               // legend text ("" = not in the legend)
  std::vector<double> x, y;       // same length; non-finite points are skipped (line breaks)
  std::string color;              // "" = next colour of the default palette
  bool markers = false;           // a dot at every point
  bool dashed = false;
  double width = 1.5;             // stroke width
};

struct ChartOptions {
  std::string title, x_label, y_label;
  bool log_y = false;             // log10 y axis; non-positive y go to the "0" row (see the note)
  std::optional<double> y_min, y_max, x_min, x_max;  // fixed range; otherwise from the data
  enum class Legend { top_right, top_left, bottom_right, bottom_left, none };
  Legend legend = Legend::top_right;
  double width = 720, height = 420;  // one panel, in pixels
};

struct Chart {
  ChartOptions options;
  std::vector<Series> series;
};

// The SVG text of `panels` laid out `columns` per row.
std::string render_svg(const std::vector<Chart>& panels, std::size_t columns = 1);
// Writes one chart; std::runtime_error naming the path when it cannot be written.
void write_svg(const std::string& path, const Chart& chart);
// Writes several charts side by side, `columns` per row.
void write_svg_panels(const std::string& path, const std::vector<Chart>& panels, std::size_t columns);

// `s` with the XML specials (& < > ') escaped, for SVG text.
std::string svg_escape(const std::string& s);

// The i-th colour of the default palette (matplotlib's tab10).
const char* palette_color(std::size_t i);

}  // namespace tgex
