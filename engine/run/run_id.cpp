#include "run/run_id.hpp"

#include <random>
#include <regex>

#include <fmt/format.h>
#include <unistd.h>

#include "run/utc_time.hpp"

namespace refit::run {

std::string new_run_id() {
  std::random_device random;
  const unsigned suffix = random() & 0xffffffu;
  return fmt::format("{}-{:06x}", utc_compact_text(wall_clock_ms()), suffix);
}

bool looks_like_run_id(const std::string& text) {
  static const std::regex shape("[0-9]{8}(-([0-9]{1,6}(-[0-9a-f]{0,6})?)?)?");
  return std::regex_match(text, shape);
}

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return "unknown";
  return name;
}

}  // namespace refit::run
