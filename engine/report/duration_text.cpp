#include "report/duration_text.hpp"

#include <fmt/format.h>

namespace refit::report {

std::string duration_text(std::int64_t ms) {
  if (ms < 0) ms = 0;
  if (ms == 0) return "0s";
  if (ms < 1000) return fmt::format("{}ms", ms);
  std::int64_t s = ms / 1000;
  if (s < 60) return fmt::format("{}s", s);
  std::int64_t m = s / 60;
  if (m < 60) return fmt::format("{}m{:02}s", m, s % 60);
  return fmt::format("{}h{:02}m", m / 60, m % 60);  // seconds do not matter at this scale
}

std::optional<std::int64_t> parse_duration_ms(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::int64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t digits = i;
    while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
    if (digits == i || digits - i > 12) return std::nullopt;
    std::int64_t n = 0;
    for (std::size_t d = i; d < digits; ++d) n = n * 10 + (text[d] - '0');
    std::int64_t unit = 0;
    if (text.compare(digits, 2, "ms") == 0) {
      unit = 1;
      i = digits + 2;
    } else if (digits < text.size() && (text[digits] == 's' || text[digits] == 'm' || text[digits] == 'h')) {
      unit = text[digits] == 's' ? 1000 : text[digits] == 'm' ? 60'000 : 3'600'000;
      i = digits + 1;
    } else {
      return std::nullopt;
    }
    total += n * unit;
  }
  return total;
}

}  // namespace refit::report
