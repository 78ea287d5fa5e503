#pragma once
// Numbers as text, one way everywhere: flags, checkpoint metadata and error messages.
//   - Writing: the shortest decimal text that reads back as exactly the same double.
//   - Reading: decimal only. "010" is ten (never octal), "0x10" and "1e3" are not whole
//     numbers, there is no sign, space or trailing text in a whole number, and a real number
//     must be finite ("nan", "inf" and hexadecimal floats are refused).
// Input shown back to the user goes through quote_input: control characters become \xNN and
// long text is cut with "…", so an error message stays one short line.
#include <cstdint>
#include <string>
#include <string_view>

namespace tg {

// The shortest text that reads back as exactly v ("0.002", "1e-08", "inf").
std::string exact_text(double v);

// A whole number in decimal digits only, within [0, 2^64); false for anything else.
bool parse_whole(std::string_view text, std::uint64_t& out);
// A finite decimal number ("2e-3", "-0.5", "7"); false for NaN, infinities, hexadecimal,
// spaces, trailing text, or a value outside the double range.
bool parse_finite(std::string_view text, double& out);

// `text` for an error message: control characters and DEL as \xNN, at most `max_chars`
// bytes of it followed by "…" when cut (never in the middle of a UTF-8 sequence).
std::string quote_input(std::string_view text, std::size_t max_chars = 80);

}  // namespace tg
