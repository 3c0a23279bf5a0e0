// SHA-256 digests as lowercase hex: what refit records to recognise a file again later (the fixture a
// kept simulated world was built from).
#pragma once
#include <string>
#include <string_view>

namespace refit::data {

// 64 lowercase hex digits.
std::string sha256_hex(std::string_view bytes);

}  // namespace refit::data
