// Writes response bodies straight into one string: objects as the API server sends them (at the
// version the client asked for; list items of built-in kinds without apiVersion and kind), with one
// nlohmann serializer per response, so that a list of 10,000 Nodes costs one pass over them.
#pragma once
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace refit::serve {

using Json = nlohmann::json;

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out);
  ~JsonWriter();
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  void raw(std::string_view text);
  void value(const Json& value);
  // A JSON string literal, escaped.
  void string(std::string_view text);

  // `object` with its apiVersion replaced by `api_version` when that is given and differs (an object
  // written as policy/v1beta1, read through policy/v1: the API server converts). Without
  // `type_meta`, apiVersion and kind are left out, as in the items of a built-in kind's list.
  void object(const Json& object, std::string_view api_version, bool type_meta = true);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// One object's JSON at `api_version` (see JsonWriter::object).
std::string object_json(const Json& object, std::string_view api_version);

}  // namespace refit::serve
