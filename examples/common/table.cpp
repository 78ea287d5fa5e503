#include "common/table.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <stdexcept>

namespace tgex {

std::string Field::text(int digits) const {
  if (const auto* s = std::get_if<std::string>(&value_)) return *s;
  const double v = std::get<double>(value_);
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[48];
  if (v == std::floor(v) && std::fabs(v) < 1e15) std::snprintf(buf, sizeof buf, "%.0f", v);  // counts stay whole
  else std::snprintf(buf, sizeof buf, "%.*g", digits, v);
  return buf;
}

Table::Table(std::vector<std::string> header) : header_(std::move(header)) {}

void Table::add(std::vector<Field> row) {
  if (row.size() != header_.size())
    throw std::invalid_argument("Table::add: a row of " + std::to_string(row.size()) + " fields for " +
                                std::to_string(header_.size()) + " columns");
  rows_.push_back(std::move(row));
}

void Table::write_csv(const std::string& path) const {
  std::ofstream out(path);
  auto quoted = [](const std::string& s) {  // RFC 4180: quote fields with , " or newline
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string q = "\"";
    for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
    return q + "\"";
  };
  for (std::size_t j = 0; j < header_.size(); ++j) out << (j ? "," : "") << quoted(header_[j]);
  out << "\n";
  for (const auto& row : rows_) {
    for (std::size_t j = 0; j < row.size(); ++j) out << (j ? "," : "") << quoted(row[j].text(10));
    out << "\n";
  }
  if (!out) throw std::runtime_error(path + ": cannot write the CSV");
}

std::string Table::markdown(int digits) const {
  std::vector<std::size_t> width(header_.size(), 3);
  for (std::size_t j = 0; j < header_.size(); ++j) width[j] = std::max(width[j], header_[j].size());
  for (const auto& row : rows_)
    for (std::size_t j = 0; j < row.size(); ++j) width[j] = std::max(width[j], row[j].text(digits).size());
  auto line = [&](auto cell) {
    std::string s = "|";
    for (std::size_t j = 0; j < header_.size(); ++j) {
      const std::string t = cell(j);
      s += " " + t + std::string(width[j] - t.size(), ' ') + " |";
    }
    return s + "\n";
  };
  std::string out = line([&](std::size_t j) { return header_[j]; });
  out += line([&](std::size_t j) { return std::string(width[j], '-'); });
  for (const auto& row : rows_) out += line([&](std::size_t j) { return row[j].text(digits); });
  return out;
}

void Table::print(std::FILE* out, int digits) const {
  std::fputs(markdown(digits).c_str(), out);
  std::fflush(out);
}

}  // namespace tgex
