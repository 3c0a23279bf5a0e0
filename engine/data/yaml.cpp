#include "data/yaml.hpp"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <regex>

#include <fmt/format.h>

namespace refit::data {

namespace {

// YAML 1.2 core schema resolution of a plain (unquoted) scalar.
Json resolve_plain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  static const std::regex dec("[-+]?[0-9]+");
  static const std::regex oct("0o[0-7]+");
  static const std::regex hex("0x[0-9a-fA-F]+");
  static const std::regex flt("[-+]?(\\.[0-9]+|[0-9]+(\\.[0-9]*)?)([eE][-+]?[0-9]+)?");
  try {
    if (std::regex_match(s, dec)) return static_cast<std::int64_t>(std::stoll(s));
    if (std::regex_match(s, oct)) return static_cast<std::int64_t>(std::stoll(s.substr(2), nullptr, 8));
    if (std::regex_match(s, hex)) return static_cast<std::int64_t>(std::stoll(s.substr(2), nullptr, 16));
    if (std::regex_match(s, flt)) return std::stod(s);
  } catch (const std::out_of_range&) {
    return s;  // too large for a number: keep the text
  }
  if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf") return HUGE_VAL;
  if (s == "-.inf" || s == "-.Inf" || s == "-.INF") return -HUGE_VAL;
  if (s == ".nan" || s == ".NaN" || s == ".NAN") return NAN;
  return s;
}

Json to_json(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Null: return nullptr;
    case YAML::NodeType::Scalar:
      // "?" is the non-specific tag of plain scalars; quoted scalars carry "!".
      if (node.Tag() == "?") return resolve_plain(node.Scalar());
      if (node.Tag() == "tag:yaml.org,2002:int" || node.Tag() == "!!int") return resolve_plain(node.Scalar());
      return node.Scalar();
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) out.push_back(to_json(item));
      return out;
    }
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        const auto& key = kv.first;
        if (!key.IsScalar()) {
          throw YamlError("mapping keys must be plain strings", key.Mark().line + 1, key.Mark().column + 1);
        }
        out[key.Scalar()] = to_json(kv.second);
      }
      return out;
    }
    case YAML::NodeType::Undefined: break;
  }
  return nullptr;
}

bool needs_quotes(const std::string& s) {
  if (s.empty()) return true;
  if (!resolve_plain(s).is_string()) return true;  // would read back as a number, bool or null
  static const std::string special = ":#{}[],&*!|>'\"%@`";
  if (special.find(s.front()) != std::string::npos || s.front() == '-' || s.front() == '?' ||
      s.front() == ' ' || s.back() == ' ')
    return true;
  return s.find(": ") != std::string::npos || s.find(" #") != std::string::npos ||
         s.find('\n') != std::string::npos || s.back() == ':';
}

void emit(YAML::Emitter& out, const Json& v) {
  switch (v.type()) {
    case Json::value_t::null: out << YAML::Null; break;
    case Json::value_t::boolean: out << (v.get<bool>() ? "true" : "false"); break;
    case Json::value_t::number_integer: out << v.get<std::int64_t>(); break;
    case Json::value_t::number_unsigned: out << v.get<std::uint64_t>(); break;
    case Json::value_t::number_float: out << v.get<double>(); break;
    case Json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (needs_quotes(s)) out << YAML::DoubleQuoted << s;
      else out << s;
      break;
    }
    case Json::value_t::array:
      if (v.empty()) { out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq; break; }
      out << YAML::BeginSeq;
      for (const auto& item : v) emit(out, item);
      out << YAML::EndSeq;
      break;
    case Json::value_t::object:
      if (v.empty()) { out << YAML::Flow << YAML::BeginMap << YAML::EndMap; break; }
      out << YAML::BeginMap;
      for (const auto& [k, item] : v.items()) {
        out << YAML::Key;
        if (needs_quotes(k)) out << YAML::DoubleQuoted << k; else out << k;
        out << YAML::Value;
        emit(out, item);
      }
      out << YAML::EndMap;
      break;
    default: out << YAML::Null; break;
  }
}

}  // namespace

std::vector<Json> parse_yaml_documents(const std::string& text) {
  std::vector<Json> docs;
  try {
    for (const auto& node : YAML::LoadAll(text)) {
      if (!node.IsDefined() || node.IsNull()) continue;
      docs.push_back(to_json(node));
    }
  } catch (const YAML::Exception& e) {
    throw YamlError(e.msg, e.mark.is_null() ? 0 : e.mark.line + 1, e.mark.is_null() ? 0 : e.mark.column + 1);
  }
  return docs;
}

Json parse_yaml(const std::string& text) {
  auto docs = parse_yaml_documents(text);
  return docs.empty() ? Json(nullptr) : docs.front();
}

std::string to_yaml(const Json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  out.SetSeqFormat(YAML::Block);
  emit(out, value);
  std::string s = out.c_str();
  if (s.empty() || s.back() != '\n') s += '\n';
  return s;
}

}  // namespace refit::data
