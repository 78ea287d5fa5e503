#include "common/svg_heatmap.hpp"

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <stdexcept>

#include "common/svg_plot.hpp"

namespace tgex {
namespace {

constexpr double kLeft = 64, kTop = 40, kBottom = 56, kRight = 80;  // margins; the colour bar sits right

// White (0) to tab10 blue (1), linear in each channel.
std::string shade(double v) {
  v = std::clamp(v, 0.0, 1.0);
  const int r = int(255 + (31 - 255) * v), g = int(255 + (119 - 255) * v), b = int(255 + (180 - 255) * v);
  char buf[16];
  std::snprintf(buf, sizeof buf, "#%02x%02x%02x", r, g, b);
  return buf;
}

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

}  // namespace

std::string render_heatmap(const Heatmap& map) {
  const std::size_t rows = map.values.size(), cols = rows ? map.values[0].size() : 0;
  for (const auto& row : map.values)
    if (row.size() != cols) throw std::invalid_argument("render_heatmap: the rows have different lengths");
  if ((!map.row_labels.empty() && map.row_labels.size() != rows) ||
      (!map.column_labels.empty() && map.column_labels.size() != cols))
    throw std::invalid_argument("render_heatmap: " + std::to_string(map.row_labels.size()) + " row and " +
                                std::to_string(map.column_labels.size()) + " column labels for a " +
                                std::to_string(rows) + " x " + std::to_string(cols) + " matrix");
  const double c = map.cell, W = kLeft + c * double(cols) + kRight, H = kTop + c * double(rows) + kBottom;
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << num(W) << "' height='" << num(H)
      << "' font-family='sans-serif' font-size='9'>\n<rect width='100%' height='100%' fill='white'/>\n";
  svg << "<text x='" << num(W / 2) << "' y='18' text-anchor='middle' font-size='13'>" << svg_escape(map.title)
      << "</text>\n";
  for (std::size_t i = 0; i < rows; ++i)
    for (std::size_t j = 0; j < cols; ++j)
      svg << "<rect x='" << num(kLeft + c * double(j)) << "' y='" << num(kTop + c * double(i)) << "' width='" << num(c)
          << "' height='" << num(c) << "' fill='" << shade(map.values[i][j]) << "'/>\n";
  for (std::size_t i = 0; i < map.row_labels.size(); ++i)  // row labels left of the cells
    svg << "<text x='" << num(kLeft - 4) << "' y='" << num(kTop + c * (double(i) + 0.8)) << "' text-anchor='end'>"
        << svg_escape(map.row_labels[i]) << "</text>\n";
  for (std::size_t j = 0; j < map.column_labels.size(); ++j)  // column labels under them
    svg << "<text x='" << num(kLeft + c * (double(j) + 0.5)) << "' y='" << num(kTop + c * double(rows) + 11)
        << "' text-anchor='middle'>" << svg_escape(map.column_labels[j]) << "</text>\n";
  svg << "<text x='" << num(kLeft + c * double(cols) / 2) << "' y='" << num(H - 12) << "' text-anchor='middle' font-size='11'>"
      << svg_escape(map.x_label) << "</text>\n";
  svg << "<text transform='translate(14 " << num(kTop + c * double(rows) / 2) << ") rotate(-90)' text-anchor='middle' "
      << "font-size='11'>" << svg_escape(map.y_label) << "</text>\n";
  const double bar_x = kLeft + c * double(cols) + 24, bar_h = std::max(60.0, c * double(rows));
  for (int k = 0; k < 20; ++k)  // the colour bar, 1 at the top
    svg << "<rect x='" << num(bar_x) << "' y='" << num(kTop + bar_h * k / 20.0) << "' width='12' height='"
        << num(bar_h / 20.0 + 0.5) << "' fill='" << shade(1.0 - k / 19.0) << "'/>\n";
  svg << "<text x='" << num(bar_x + 16) << "' y='" << num(kTop + 8) << "'>1</text>\n<text x='" << num(bar_x + 16)
      << "' y='" << num(kTop + bar_h) << "'>0</text>\n</svg>\n";
  return svg.str();
}

void write_heatmap(const std::string& path, const Heatmap& map) {
  std::ofstream out(path);
  if (!out || !(out << render_heatmap(map)) || !out.flush())
    throw std::runtime_error("write_heatmap: cannot write '" + path + "'");
}

}  // namespace tgex
