// The first line of a kept simulated world's file: what the world was built from (fixture, scenario,
// seed, refit), so that replaying its inputs on another fixture fails at once with a reason, instead
// of diverging somewhere in the middle.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace refit::run::simstate {

// The format of the lines; a file in another format is refused (its inputs may mean something else).
inline constexpr int kFormatVersion = 1;

// The files and seed a simulated world is built from.
struct Origin {
  std::string fixture;                          // the path as given
  std::string fixture_sha256;
  std::optional<std::string> scenario;
  std::optional<std::string> scenario_sha256;
  std::uint64_t seed = 1;
};

struct Header {
  int format = kFormatVersion;
  std::string refit_version;
  Origin origin;
  // The world as the fixture builds it, before any input: catches what the fixture's sha256 cannot
  // (a file it includes with `files:`, refit's models of the products).
  std::string world_sha256;
};

// This refit's version.
std::string refit_version();

// Hashes the fixture and scenario files. Throws StateError when one cannot be read.
Origin origin_of(const std::string& fixture, const std::optional<std::string>& scenario, std::uint64_t seed);

// The header as one JSON line (without the newline).
std::string header_line(const Header& header);

// Reads the header line of `file` (its line 1). Throws StateError naming FILE:1.
Header parse_header(const std::string& text, const std::string& file);

// Throws StateError when `recorded` was not built as `current` is: which differs, and how to go on.
void check_origin(const Header& recorded, const Origin& current, const std::string& file);

// Throws StateError when the fixture now builds another world than the one FILE started from.
void check_world(const Header& recorded, const std::string& world_sha256, const std::string& file);

}  // namespace refit::run::simstate
