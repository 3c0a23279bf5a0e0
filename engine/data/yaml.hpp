// YAML <-> JSON documents, with YAML 1.2 core-schema typing of plain scalars (so `replicas: 3` is
// a number, `version: "1.20"` a string, and an unquoted `1.20` is the number 1.2 — callers that want
// a version say so in their error messages).
#pragma once
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

namespace refit::data {

using Json = nlohmann::json;

struct YamlError : std::runtime_error {
  YamlError(const std::string& msg, int line, int column)
      : std::runtime_error(msg), line(line), column(column) {}
  int line;    // 1-based; 0 when unknown
  int column;  // 1-based; 0 when unknown
};

// Every document of a YAML stream (empty documents are skipped). Throws YamlError.
std::vector<Json> parse_yaml_documents(const std::string& text);

// The first document, or null for an empty stream.
Json parse_yaml(const std::string& text);

// Block-style YAML for a JSON value; strings that would read back as another type are quoted.
std::string to_yaml(const Json& value);

}  // namespace refit::data
