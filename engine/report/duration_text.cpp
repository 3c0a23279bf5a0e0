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

}  // namespace refit::report
