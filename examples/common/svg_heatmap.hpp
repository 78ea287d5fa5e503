#pragma once
// A small SVG heat-map writer: a matrix of values in [0, 1] drawn as grey-to-blue cells with
// labelled rows and columns (an attention map: one row per output step, one column per input).
#include <string>
#include <vector>

namespace tgex {

struct Heatmap {
  std::string title, x_label, y_label;
  std::vector<std::vector<double>> values;  // [rows][columns], each in [0, 1] (clamped)
  std::vector<std::string> row_labels, column_labels;  // empty, or one per row / column
  double cell = 11;                                     // cell size in pixels
};

// The SVG text of `map`; std::invalid_argument when the rows are ragged or the labels do not
// match the matrix.
std::string render_heatmap(const Heatmap& map);
// Writes it; std::runtime_error naming the path when it cannot be written.
void write_heatmap(const std::string& path, const Heatmap& map);

}  // namespace tgex
