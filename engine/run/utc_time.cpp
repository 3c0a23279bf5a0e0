#include "run/utc_time.hpp"

#include <chrono>
#include <regex>

#include <fmt/format.h>

namespace refit::run {

namespace {

using namespace std::chrono;

struct Civil {
  int year;
  unsigned month, day;
  std::int64_t hours, minutes, seconds, ms;
};

Civil civil_of(std::int64_t unix_ms) {
  const sys_time<milliseconds> instant{milliseconds{unix_ms}};
  const auto day = floor<days>(instant);
  const year_month_day date{day};
  const hh_mm_ss time{instant - day};
  return {static_cast<int>(date.year()), static_cast<unsigned>(date.month()), static_cast<unsigned>(date.day()),
          time.hours().count(), time.minutes().count(), time.seconds().count(), time.subseconds().count()};
}

}  // namespace

std::string utc_seconds_text(std::int64_t unix_ms) {
  Civil c = civil_of(unix_ms);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", c.year, c.month, c.day, c.hours, c.minutes, c.seconds);
}

std::string utc_millis_text(std::int64_t unix_ms) {
  Civil c = civil_of(unix_ms);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", c.year, c.month, c.day, c.hours, c.minutes,
                     c.seconds, c.ms);
}

std::string utc_micro_text(std::int64_t unix_ms) {
  std::string text = utc_millis_text(unix_ms);
  return text.insert(text.size() - 1, "000");
}

std::string utc_compact_text(std::int64_t unix_ms) {
  Civil c = civil_of(unix_ms);
  return fmt::format("{:04}{:02}{:02}-{:02}{:02}{:02}", c.year, c.month, c.day, c.hours, c.minutes, c.seconds);
}

std::optional<std::int64_t> parse_utc_time(const std::string& text) {
  static const std::regex rfc3339(
      R"(([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?([Zz]|([+-])([0-9]{2}):([0-9]{2})))");
  std::smatch m;
  if (!std::regex_match(text, m, rfc3339)) return std::nullopt;
  auto number = [&m](int i) { return std::stoi(m[i].str()); };
  const year_month_day date{year{number(1)}, month{static_cast<unsigned>(number(2))},
                            day{static_cast<unsigned>(number(3))}};
  if (!date.ok() || number(4) > 23 || number(5) > 59 || number(6) > 60) return std::nullopt;
  std::int64_t ms = duration_cast<milliseconds>(sys_days{date}.time_since_epoch()).count();
  ms += ((number(4) * 60LL + number(5)) * 60LL + number(6)) * 1000LL;
  if (m[7].matched) {
    std::string fraction = m[7].str().substr(1) + "00";  // at least three digits: milliseconds
    ms += std::stoi(fraction.substr(0, 3));
  }
  if (m[9].matched) {
    std::int64_t offset = (number(10) * 60LL + number(11)) * 60'000LL;
    ms += m[9].str() == "+" ? -offset : offset;
  }
  return ms;
}

std::int64_t wall_clock_ms() {
  return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

}  // namespace refit::run
