// Reading fields of JSON objects (API objects, journal records) that may be missing or of another type,
// without throwing.
#pragma once
#include <nlohmann/json.hpp>
#include <string>

namespace refit::data {

// object[key] when it is a string, else "" (also when `object` is not an object).
inline const std::string& string_member(const nlohmann::json& object, const char* key) {
  static const std::string empty;
  if (!object.is_object()) return empty;
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get_ref<const std::string&>() : empty;
}

}  // namespace refit::data
