// Durations as people read them: 0s, 850ms, 42s, 3m05s, 1h12m, 26h03m.
#pragma once
#include <cstdint>
#include <string>

namespace refit::report {

std::string duration_text(std::int64_t ms);

}  // namespace refit::report
