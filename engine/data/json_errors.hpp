// nlohmann::json's errors in words for users: its messages start with "[json.exception.type.N] " and
// sometimes "parse error: ", which say nothing to someone fixing a patch or a request body.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace refit::data {

inline std::string json_error_reason(const nlohmann::json::exception& error) {
  std::string_view text = error.what();
  if (auto bracket = text.find("] "); bracket != std::string_view::npos) text.remove_prefix(bracket + 2);
  if (text.starts_with("parse error: ")) text.remove_prefix(13);
  return std::string(text);
}

}  // namespace refit::data
