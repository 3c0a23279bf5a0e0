// UTC timestamps as Kubernetes writes them: RFC 3339 text for a time in milliseconds since the Unix
// epoch (Lease MicroTimes, the times in refit's messages), and back.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace refit::run {

// "2026-01-01T00:02:30Z".
std::string utc_seconds_text(std::int64_t unix_ms);
// With milliseconds, as the journal writes times: "2026-01-01T00:02:30.250Z".
std::string utc_millis_text(std::int64_t unix_ms);
// A metav1.MicroTime: "2026-01-01T00:02:30.250000Z".
std::string utc_micro_text(std::int64_t unix_ms);
// "20260101-000230", the first part of a run id.
std::string utc_compact_text(std::int64_t unix_ms);

// Reads RFC 3339 ("2026-01-01T00:02:30Z", "2026-01-01T00:02:30.25+01:00"): milliseconds since the
// Unix epoch, or none when `text` is not such a time.
std::optional<std::int64_t> parse_utc_time(const std::string& text);

// The wall clock, in milliseconds since the Unix epoch.
std::int64_t wall_clock_ms();

}  // namespace refit::run
