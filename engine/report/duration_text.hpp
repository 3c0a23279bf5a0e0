// Durations as people read them: 0s, 850ms, 42s, 3m05s, 1h12m, 26h03m.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace refit::report {

std::string duration_text(std::int64_t ms);

// A duration as fixtures and scenarios write one (refit.sim.util.parse_duration) and as refit's
// duration options take one: one or more <digits><unit>, unit ms, s, m or h ("250ms", "90s",
// "1h30m"), in milliseconds; none when the text is not one (empty, no unit, another unit, a sign, a
// fraction, or a term of more than 12 digits). Kubernetes' Go durations ("1.5s", "0") are
// serve::parse_go_duration's; playbook parameters' (fractions, days) are refit.duration's.
std::optional<std::int64_t> parse_duration_ms(std::string_view text);

}  // namespace refit::report
