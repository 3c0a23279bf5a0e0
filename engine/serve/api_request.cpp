#include "serve/api_request.hpp"

#include <cctype>
#include <charconv>

#include <fmt/format.h>

#include "data/yaml.hpp"
#include "data/json_errors.hpp"

namespace refit::serve {

std::string ApiRequest::query(const char* key) const {
  return http.has_param(key) ? http.get_param_value(key) : std::string();
}

bool ApiRequest::flag(const char* key) const {
  std::string value = query(key);
  if (value.empty() || value == "false" || value == "0") return false;
  if (value == "true" || value == "1") return true;
  throw bad_request(fmt::format("invalid value for {}: \"{}\" (true or false)", key, value));
}

bool ApiRequest::dry_run() const {
  if (!http.has_param("dryRun")) return false;
  std::size_t count = http.get_param_value_count("dryRun");
  for (std::size_t i = 0; i < count; ++i) {
    std::string value = http.get_param_value("dryRun", i);
    if (value != "All") {
      throw bad_request(fmt::format("dryRun: Unsupported value: \"{}\": supported values: \"All\"", value));
    }
  }
  return true;
}

std::string ApiRequest::media_type() const {
  std::string type = http.get_header_value("Content-Type");
  if (auto semicolon = type.find(';'); semicolon != std::string::npos) type.resize(semicolon);
  while (!type.empty() && std::isspace(static_cast<unsigned char>(type.back()))) type.pop_back();
  for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return type;
}

Json ApiRequest::body() const {
  if (media_type().find("yaml") != std::string::npos) {
    try {
      return data::parse_yaml(http.body);
    } catch (const data::YamlError& e) {
      throw bad_request(fmt::format("the request body is not valid YAML (line {}, column {}): {}", e.line, e.column,
                                    e.what()));
    }
  }
  try {
    return Json::parse(http.body);
  } catch (const Json::parse_error& e) {
    throw bad_request(fmt::format("the request body is not valid JSON: {}", data::json_error_reason(e)));
  }
}

Subject ApiRequest::subject(std::string_view name) const {
  return Subject{resource.plural, resource.group, resource.kind, name};
}

sim::ObjectRef ApiRequest::ref(std::string_view name) const {
  return sim::ObjectRef{resource.api_version, resource.kind, resource.namespaced ? path.ns : std::string(),
                        std::string(name)};
}

void respond_json(httplib::Response& response, int code, std::string body) {
  response.status = code;
  response.body = std::move(body);
  response.set_header("Content-Type", "application/json");
}

void respond_status(httplib::Response& response, const StatusError& error) {
  respond_json(response, error.code, failure_status(error).dump());
}

std::optional<std::chrono::milliseconds> parse_go_duration(std::string_view text) {
  if (text.empty()) return std::nullopt;
  if (text == "0") return std::chrono::milliseconds(0);
  double total_ms = 0;
  while (!text.empty()) {
    double number = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), number);
    if (ec != std::errc() || number < 0) return std::nullopt;
    text.remove_prefix(static_cast<std::size_t>(end - text.data()));
    std::size_t unit_length = 0;
    while (unit_length < text.size() && std::isalpha(static_cast<unsigned char>(text[unit_length]))) ++unit_length;
    std::string_view unit = text.substr(0, unit_length);
    text.remove_prefix(unit_length);
    if (unit == "h") total_ms += number * 3'600'000;
    else if (unit == "m") total_ms += number * 60'000;
    else if (unit == "s") total_ms += number * 1000;
    else if (unit == "ms") total_ms += number;
    else if (unit == "us") total_ms += number / 1000;
    else if (unit == "ns") total_ms += number / 1'000'000;
    else return std::nullopt;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(total_ms));
}

DryRunScope::DryRunScope(sim::SimCluster& cluster, bool on) : cluster_(cluster), on_(on) {
  if (on_) cluster_.store().set_dry_run(true);
}

DryRunScope::~DryRunScope() {
  if (on_) cluster_.store().set_dry_run(false);
}

}  // namespace refit::serve
