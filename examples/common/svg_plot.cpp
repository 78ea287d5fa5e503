#include "common/svg_plot.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <sstream>
#include <stdexcept>

namespace tgex {
namespace {

constexpr double kLeft = 72, kRight = 16, kTop = 30, kBottom = 48;  // panel margins
constexpr double kZeroRow = 26;  // height of the "0" row under a log axis

std::string num(double v) {  // a coordinate
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

std::string label(double v) {  // a tick label
  char buf[32];
  if (v != 0 && (std::fabs(v) >= 1e5 || std::fabs(v) < 1e-3)) std::snprintf(buf, sizeof buf, "%.0e", v);
  else std::snprintf(buf, sizeof buf, "%g", v);
  return buf;
}

// Ticks at 1, 2 or 5 times a power of ten covering [lo, hi] with about `count` steps.
std::vector<double> nice_ticks(double& lo, double& hi, int count) {
  if (!(hi > lo)) {
    const double pad = lo == 0 ? 1 : std::fabs(lo) * 0.1;
    lo -= pad;
    hi += pad;
  }
  const double raw = (hi - lo) / count, mag = std::pow(10, std::floor(std::log10(raw)));
  const double step = raw / mag < 1.5 ? mag : raw / mag < 3.5 ? 2 * mag : raw / mag < 7.5 ? 5 * mag : 10 * mag;
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
  std::vector<double> ticks;
  for (double t = lo; t <= hi + step * 1e-6; t += step) ticks.push_back(std::fabs(t) < step * 1e-9 ? 0 : t);
  return ticks;
}

struct Range {
  double lo = std::numeric_limits<double>::infinity(), hi = -std::numeric_limits<double>::infinity();
  void add(double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  bool empty() const { return !(hi >= lo); }
};

// One panel at offset (ox, oy) of the picture.
void render_panel(std::ostringstream& svg, const Chart& chart, double ox, double oy) {
  const ChartOptions& o = chart.options;
  Range xr, yr;
  bool has_zero_row = false;  // a non-positive y on a log axis
  for (const Series& s : chart.series) {
    if (s.x.size() != s.y.size())
      throw std::invalid_argument("svg plot: series '" + s.name + "' has " + std::to_string(s.x.size()) +
                                  " x values but " + std::to_string(s.y.size()) + " y values");
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      xr.add(s.x[i]);
      if (o.log_y && s.y[i] <= 0) has_zero_row = true;
      else yr.add(o.log_y ? std::log10(s.y[i]) : s.y[i]);
    }
  }
  if (xr.empty()) xr = {0, 1};
  if (yr.empty()) yr = {o.log_y ? -1.0 : 0.0, 1};
  if (o.x_min) xr.lo = *o.x_min;
  if (o.x_max) xr.hi = *o.x_max;
  if (o.y_min) yr.lo = o.log_y ? std::log10(*o.y_min) : *o.y_min;
  if (o.y_max) yr.hi = o.log_y ? std::log10(*o.y_max) : *o.y_max;

  std::vector<double> xticks = nice_ticks(xr.lo, xr.hi, 6);
  std::vector<double> yticks;  // in axis units (log10 y on a log axis)
  if (o.log_y) {
    yr.lo = std::floor(yr.lo);
    yr.hi = std::max(yr.lo + 1, std::ceil(yr.hi));
    const int decades = int(yr.hi - yr.lo), every = std::max(1, (decades + 7) / 8);
    const int first = int(std::ceil(yr.lo / every)) * every;  // multiples of `every`, so 1e0 is labelled
    for (int d = first; d <= int(yr.hi); d += every) yticks.push_back(d);
  } else {
    yticks = nice_ticks(yr.lo, yr.hi, 5);
  }

  const double W = o.width, H = o.height;
  const double plot_bottom = H - kBottom - (has_zero_row ? kZeroRow : 0), zero_y = H - kBottom - kZeroRow / 2;
  auto px = [&](double x) { return ox + kLeft + (W - kLeft - kRight) * (x - xr.lo) / (xr.hi - xr.lo); };
  auto py = [&](double y) { return oy + kTop + (plot_bottom - kTop) * (1 - (y - yr.lo) / (yr.hi - yr.lo)); };

  svg << "<text x='" << num(ox + W / 2) << "' y='" << num(oy + 18) << "' text-anchor='middle' font-size='14'>"
      << svg_escape(o.title) << "</text>\n";
  for (double t : yticks) {
    svg << "<line x1='" << num(ox + kLeft) << "' x2='" << num(ox + W - kRight) << "' y1='" << num(py(t)) << "' y2='"
        << num(py(t)) << "' stroke='#ddd'/><text x='" << num(ox + kLeft - 6) << "' y='" << num(py(t) + 4)
        << "' text-anchor='end'>" << (o.log_y ? "1e" + std::to_string(int(t)) : label(t)) << "</text>\n";
  }
  for (double t : xticks) {
    svg << "<line x1='" << num(px(t)) << "' x2='" << num(px(t)) << "' y1='" << num(oy + kTop) << "' y2='"
        << num(oy + plot_bottom) << "' stroke='#eee'/><text x='" << num(px(t)) << "' y='" << num(oy + H - kBottom + 16)
        << "' text-anchor='middle'>" << label(t) << "</text>\n";
  }
  svg << "<rect x='" << num(ox + kLeft) << "' y='" << num(oy + kTop) << "' width='" << num(W - kLeft - kRight)
      << "' height='" << num(plot_bottom - kTop) << "' fill='none' stroke='#888'/>\n";
  if (has_zero_row) {  // see Note [zeros on a log axis]
    svg << "<line x1='" << num(ox + kLeft) << "' x2='" << num(ox + W - kRight) << "' y1='" << num(oy + zero_y)
        << "' y2='" << num(oy + zero_y) << "' stroke='#bbb' stroke-dasharray='2,3'/><text x='" << num(ox + kLeft - 6)
        << "' y='" << num(oy + zero_y + 4) << "' text-anchor='end'>0</text>\n";
  }
  svg << "<text x='" << num(ox + W / 2) << "' y='" << num(oy + H - 10) << "' text-anchor='middle'>" << svg_escape(o.x_label)
      << "</text>\n<text transform='translate(" << num(ox + 14) << "," << num(oy + (kTop + plot_bottom) / 2)
      << ") rotate(-90)' text-anchor='middle'>" << svg_escape(o.y_label) << "</text>\n";

  const double cx = ox + kLeft - 4, cy = oy + kTop - 4, cw = W - kLeft - kRight + 8, ch = H - kTop - kBottom + 8;
  svg << "<svg x='" << num(cx) << "' y='" << num(cy) << "' width='" << num(cw) << "' height='" << num(ch)
      << "' viewBox='" << num(cx) << " " << num(cy) << " " << num(cw) << " " << num(ch)
      << "' overflow='hidden'>\n";  // clip to the plot (+4 px for markers on its edge)
  for (std::size_t k = 0; k < chart.series.size(); ++k) {
    const Series& s = chart.series[k];
    const std::string color = s.color.empty() ? palette_color(k) : s.color;
    std::string points;  // the current unbroken run of the line
    auto flush = [&] {
      if (points.empty()) return;
      svg << "<polyline fill='none' stroke='" << color << "' stroke-width='" << s.width << "'"
          << (s.dashed ? " stroke-dasharray='6,4'" : "") << " points='" << points << "'/>\n";
      points.clear();
    };
    std::ostringstream dots;
    for (std::size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) {
        flush();
        continue;
      }
      if (o.log_y && s.y[i] <= 0) {  // the "0" row: always a marker, never dropped
        flush();
        dots << "<circle cx='" << num(px(s.x[i])) << "' cy='" << num(oy + zero_y) << "' r='3' fill='" << color
             << "'/>\n";
        continue;
      }
      const double y = o.log_y ? std::log10(s.y[i]) : s.y[i];
      points += num(px(s.x[i])) + "," + num(py(y)) + " ";
      if (s.markers)
        dots << "<circle cx='" << num(px(s.x[i])) << "' cy='" << num(py(y)) << "' r='2.5' fill='" << color << "'/>\n";
    }
    flush();
    svg << dots.str();
  }
  svg << "</svg>\n";

  std::vector<std::size_t> named;
  for (std::size_t k = 0; k < chart.series.size(); ++k)
    if (!chart.series[k].name.empty()) named.push_back(k);
  if (o.legend == ChartOptions::Legend::none || named.empty()) return;
  std::size_t longest = 0;
  for (std::size_t k : named) longest = std::max(longest, chart.series[k].name.size());
  const double lw = 34 + 7 * double(longest), lh = 8 + 16 * double(named.size());
  const bool right = o.legend == ChartOptions::Legend::top_right || o.legend == ChartOptions::Legend::bottom_right;
  const bool top = o.legend == ChartOptions::Legend::top_right || o.legend == ChartOptions::Legend::top_left;
  const double lx = right ? ox + W - kRight - lw - 6 : ox + kLeft + 6, ly = top ? oy + kTop + 6 : oy + plot_bottom - lh - 6;
  svg << "<rect x='" << num(lx) << "' y='" << num(ly) << "' width='" << num(lw) << "' height='" << num(lh)
      << "' fill='white' fill-opacity='0.85' stroke='#ccc'/>\n";
  for (std::size_t j = 0; j < named.size(); ++j) {
    const Series& s = chart.series[named[j]];
    const std::string color = s.color.empty() ? palette_color(named[j]) : s.color;
    const double y = ly + 14 + 16 * double(j);
    svg << "<line x1='" << num(lx + 6) << "' x2='" << num(lx + 26) << "' y1='" << num(y - 4) << "' y2='" << num(y - 4)
        << "' stroke='" << color << "' stroke-width='2'" << (s.dashed ? " stroke-dasharray='6,4'" : "")
        << "/><text x='" << num(lx + 30) << "' y='" << num(y) << "'>" << svg_escape(s.name) << "</text>\n";
  }
}

}  // namespace

std::string svg_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '&') out += "&amp;";
    else if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '\'') out += "&apos;";
    else out += c;
  }
  return out;
}


const char* palette_color(std::size_t i) {
  static const char* colors[] = {"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
                                 "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
  return colors[i % 10];
}

std::string render_svg(const std::vector<Chart>& panels, std::size_t columns) {
  columns = std::max<std::size_t>(1, std::min(columns, panels.size()));
  const std::size_t rows = (panels.size() + columns - 1) / columns;
  double cell_w = 0, cell_h = 0;  // every panel gets the largest panel's cell
  for (const Chart& c : panels) {
    cell_w = std::max(cell_w, c.options.width);
    cell_h = std::max(cell_h, c.options.height);
  }
  std::ostringstream svg;
  svg << "<svg xmlns='http://www.w3.org/2000/svg' width='" << num(cell_w * double(columns)) << "' height='"
      << num(cell_h * double(rows)) << "' font-family='sans-serif' font-size='12'>\n"
      << "<rect width='100%' height='100%' fill='white'/>\n";
  for (std::size_t i = 0; i < panels.size(); ++i)
    render_panel(svg, panels[i], cell_w * double(i % columns), cell_h * double(i / columns));
  svg << "</svg>\n";
  return svg.str();
}

void write_svg_panels(const std::string& path, const std::vector<Chart>& panels, std::size_t columns) {
  const std::string text = render_svg(panels, columns);
  std::ofstream out(path);
  out << text;
  if (!out) throw std::runtime_error(path + ": cannot write the SVG");
}

void write_svg(const std::string& path, const Chart& chart) { write_svg_panels(path, {chart}, 1); }

}  // namespace tgex
