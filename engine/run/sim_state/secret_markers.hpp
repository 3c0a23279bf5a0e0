// Secret parameters' values never reach a kept world's file. Each occurrence in a recorded input (as
// given, and base64-encoded, as a Secret's data holds it) is written as a marker naming the
// parameter, ${refit-secret:NAME} or ${refit-secret-base64:NAME}; a replay puts back the value the
// run was given now (as `refit resume` asks for secret parameters again).
#pragma once
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace refit::run::simstate {

class SecretMarkers {
 public:
  SecretMarkers() = default;
  // name -> value; empty values are ignored.
  explicit SecretMarkers(const std::map<std::string, std::string>& values);

  // Replaces every secret value in every string (and key) of `value` by its marker.
  void hide(nlohmann::json& value) const;
  // Replaces every marker by its value; returns the name of a parameter a marker names that this run
  // has no value for (nothing is replaced then).
  std::optional<std::string> reveal(nlohmann::json& value) const;

  // Whether `text` (a recorded line) may hold a marker: most lines do not, and need no walk.
  static bool may_hold_marker(const std::string& text);

 private:
  struct Pattern {
    std::string text;    // what the value looks like
    std::string marker;  // what FILE holds instead
  };
  std::vector<Pattern> patterns_;                // longest first: a value that holds another is replaced whole
  std::map<std::string, std::string> values_;
  std::string hide_text(const std::string& text) const;
};

}  // namespace refit::run::simstate
