#pragma once
// A table of results: a header and rows of numbers or strings, written as a CSV file and
// printed as an aligned Markdown table (the form docs/experiments.md shows).
#include <cstdio>
#include <string>
#include <variant>
#include <vector>

namespace tgex {

// One cell: a number (printed with `digits` significant digits) or a string.
class Field {
 public:
  Field(double v) : value_(v) {}
  Field(int v) : value_(double(v)) {}
  Field(long v) : value_(double(v)) {}
  Field(unsigned long v) : value_(double(v)) {}
  Field(unsigned v) : value_(double(v)) {}
  Field(std::string s) : value_(std::move(s)) {}
  Field(const char* s) : value_(std::string(s)) {}
  // The text of the cell; numbers with %.{digits}g ("nan"/"inf" kept as such).
  std::string text(int digits) const;

 private:
  std::variant<double, std::string> value_;
};

class Table {
 public:
  explicit Table(std::vector<std::string> header);
  // std::invalid_argument unless the row has as many fields as the header.
  void add(std::vector<Field> row);
  std::size_t rows() const { return rows_.size(); }
  const std::vector<std::string>& header() const { return header_; }

  // CSV with full precision (10 significant digits); std::runtime_error naming the path on failure.
  void write_csv(const std::string& path) const;
  // An aligned Markdown table with `digits` significant digits.
  std::string markdown(int digits = 4) const;
  void print(std::FILE* out = stdout, int digits = 4) const;

 private:
  std::vector<std::string> header_;
  std::vector<std::vector<Field>> rows_;
};

}  // namespace tgex
