#include "run/sim_state/header.hpp"

#include <fmt/format.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "data/sha256.hpp"
#include "run/sim_state/state_error.hpp"

#ifndef REFIT_VERSION
#define REFIT_VERSION "unknown"
#endif

namespace refit::run::simstate {

namespace {

using Json = nlohmann::json;

std::string file_sha256(const std::string& path, const char* what) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream bytes;
  if (!in || !(bytes << in.rdbuf())) throw StateError(fmt::format("{}: cannot read {} file", path, what));
  return data::sha256_hex(bytes.str());
}

// Enough of a digest to tell two files apart in a message.
std::string short_digest(const std::string& sha256) { return sha256.substr(0, 12); }

std::string string_field(const Json& doc, const char* key, const std::string& file) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) {
    throw StateError(fmt::format("{}:1: the header lacks \"{}\": the file is damaged; delete it to start over from "
                                 "the fixture", file, key));
  }
  return it->get<std::string>();
}

std::optional<std::string> optional_string(const Json& doc, const char* key) {
  auto it = doc.find(key);
  if (it == doc.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

}  // namespace

std::string refit_version() { return REFIT_VERSION; }

Origin origin_of(const std::string& fixture, const std::optional<std::string>& scenario, std::uint64_t seed) {
  Origin origin;
  origin.fixture = fixture;
  origin.fixture_sha256 = file_sha256(fixture, "fixture");
  if (scenario) {
    origin.scenario = *scenario;
    origin.scenario_sha256 = file_sha256(*scenario, "scenario");
  }
  origin.seed = seed;
  return origin;
}

std::string header_line(const Header& header) {
  // Ordered: a person reading the file sees what it is first.
  nlohmann::ordered_json doc = {{"refit_sim_state", header.format},
                                {"refit", header.refit_version},
                                {"fixture", header.origin.fixture},
                                {"fixture_sha256", header.origin.fixture_sha256}};
  doc["scenario"] = header.origin.scenario ? nlohmann::ordered_json(*header.origin.scenario) : nullptr;
  doc["scenario_sha256"] =
      header.origin.scenario_sha256 ? nlohmann::ordered_json(*header.origin.scenario_sha256) : nullptr;
  doc["seed"] = header.origin.seed;
  doc["world_sha256"] = header.world_sha256;
  return doc.dump();
}

Header parse_header(const std::string& text, const std::string& file) {
  Json doc = Json::parse(text, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("refit_sim_state")) {
    throw StateError(fmt::format("{}:1: not a kept simulated world (its first line is not a refit sim-state header): "
                                 "give another file to --sim-state, or delete this one to start over", file));
  }
  Header header;
  const Json& format = doc["refit_sim_state"];
  if (!format.is_number_integer()) {
    throw StateError(fmt::format("{}:1: the header's refit_sim_state is not a format number: the file is damaged; "
                                 "delete it to start over from the fixture", file));
  }
  header.format = format.get<int>();
  if (header.format != kFormatVersion) {
    throw StateError(fmt::format("{}: it is in sim-state format {}, and this refit reads format {}: delete it to "
                                 "start over from the fixture", file, header.format, kFormatVersion));
  }
  header.refit_version = optional_string(doc, "refit").value_or("unknown");
  header.origin.fixture = string_field(doc, "fixture", file);
  header.origin.fixture_sha256 = string_field(doc, "fixture_sha256", file);
  header.origin.scenario = optional_string(doc, "scenario");
  header.origin.scenario_sha256 = optional_string(doc, "scenario_sha256");
  auto seed = doc.find("seed");
  if (seed == doc.end() || !seed->is_number_unsigned()) {
    throw StateError(fmt::format("{}:1: the header lacks \"seed\": the file is damaged; delete it to start over from "
                                 "the fixture", file));
  }
  header.origin.seed = seed->get<std::uint64_t>();
  header.world_sha256 = string_field(doc, "world_sha256", file);
  return header;
}

void check_origin(const Header& recorded, const Origin& current, const std::string& file) {
  const Origin& was = recorded.origin;
  if (was.fixture_sha256 != current.fixture_sha256) {
    throw StateError(fmt::format("{}: this world was recorded from fixture {} (sha256 {}), but {} has sha256 {}: run "
                                 "with the fixture it was recorded from, or delete {} to start over from this one",
                                 file, was.fixture, short_digest(was.fixture_sha256), current.fixture,
                                 short_digest(current.fixture_sha256), file));
  }
  if (!was.scenario && current.scenario) {
    throw StateError(fmt::format("{}: this world was recorded without a scenario, but this run has --scenario {}: "
                                 "run without it, or delete {} to start over with it", file, *current.scenario, file));
  }
  if (was.scenario && !current.scenario) {
    throw StateError(fmt::format("{}: this world was recorded with --scenario {}: give it again, or delete {} to start "
                                 "over without it", file, *was.scenario, file));
  }
  if (was.scenario && was.scenario_sha256 != current.scenario_sha256) {
    throw StateError(fmt::format("{}: this world was recorded with scenario {} (sha256 {}), but {} has sha256 {}: run "
                                 "with the scenario it was recorded with, or delete {} to start over with this one",
                                 file, *was.scenario, short_digest(was.scenario_sha256.value_or("")),
                                 *current.scenario, short_digest(current.scenario_sha256.value_or("")), file));
  }
  if (was.seed != current.seed) {
    throw StateError(fmt::format("{}: this world was recorded with --seed {}, and this run has --seed {}: pass --seed "
                                 "{}, or delete {} to start over with seed {}", file, was.seed, current.seed, was.seed,
                                 file, current.seed));
  }
}

void check_world(const Header& recorded, const std::string& world_sha256, const std::string& file) {
  if (recorded.world_sha256 == world_sha256) return;
  throw StateError(fmt::format("{}: fixture {} now builds another world than the one this file started from (a file "
                               "the fixture includes changed, or refit's models did: the file was written by refit {}, "
                               "this is refit {}): run with the files it was recorded from, or delete {} to start over",
                               file, recorded.origin.fixture, recorded.refit_version, refit_version(), file));
}

}  // namespace refit::run::simstate
