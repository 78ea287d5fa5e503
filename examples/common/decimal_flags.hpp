#pragma once
// Numbers on a command line are decimal: CLI11 reads "010" as octal 8, "0x10" as 16, and
// "nan"/"inf" as numbers. decimal_numbers(app) gives every numeric option of `app` (and of its
// subcommands) a check that accepts only decimal text ("010" is ten; a sign only where the
// option is signed; a finite value for real options) and hands CLI11 the canonical text.
// Header-only, so the benchmarks use it without the examples' library.
#include <cstdint>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include <tapegrad/autograd/number_text.hpp>

namespace tgex {

// The canonical decimal text of `text` for an option of CLI11 type `type` ("UINT", "INT",
// "FLOAT"), or "" when it is not a decimal number of that kind.
inline std::string canonical_decimal(const std::string& text, const std::string& type) {
  if (type == "FLOAT") {
    double v = 0;
    return tg::parse_finite(text, v) ? tg::exact_text(v) : "";
  }
  const bool negative = type == "INT" && !text.empty() && text[0] == '-';
  std::uint64_t v = 0;
  if (!tg::parse_whole(negative ? text.substr(1) : text, v)) return "";
  return (negative && v ? "-" : "") + std::to_string(v);
}

inline void decimal_numbers(CLI::App& app) {
  for (CLI::Option* opt : app.get_options()) {
    const std::string full = opt->get_type_name();  // "UINT", or "UINT:<its validators>"
    const std::string type = full.substr(0, full.find(':'));
    if (type != "UINT" && type != "INT" && type != "FLOAT") continue;
    opt->transform(CLI::Validator(
        [type](std::string& s) {
          const std::string canonical = canonical_decimal(s, type);
          if (canonical.empty())
            return "must be a " + std::string(type == "FLOAT" ? "finite decimal number" : type == "INT" ? "whole decimal number" : "whole decimal number >= 0") +
                   ", got '" + tg::quote_input(s, 40) + "'";
          s = canonical;
          return std::string();
        },
        "", "decimal"));
  }
  for (CLI::App* sub : app.get_subcommands({})) decimal_numbers(*sub);
}

// Parses a tool's command line with decimal numbers. Returns -1 to go on, else the exit code:
// 0 after --help, 2 after a parse error (one line on stderr: "<app name>: <what> (see --help)",
// the input in it quoted).
inline int parse_command_line(CLI::App& app, int argc, char** argv) {
  try {
    decimal_numbers(app);
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << tg::quote_input(e.what(), 240) << " (see --help)\n";
    return 2;
  }
  return -1;
}

}  // namespace tgex
