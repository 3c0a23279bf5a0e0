#include "serve/json_writer.hpp"

namespace refit::serve {

// nlohmann's own serializer, fed to the response string directly: dump() would build a temporary
// string per value and copy it.
struct JsonWriter::Impl {
  explicit Impl(std::string& out)
      : out(out),
        serializer(nlohmann::detail::output_adapter<char, std::string>(out), ' ',
                   nlohmann::detail::error_handler_t::replace) {}
  std::string& out;
  nlohmann::detail::serializer<Json> serializer;
};

JsonWriter::JsonWriter(std::string& out) : impl_(std::make_unique<Impl>(out)) {}
JsonWriter::~JsonWriter() = default;

void JsonWriter::raw(std::string_view text) { impl_->out.append(text); }

// The same bytes as nlohmann's dump (compact, UTF-8 kept), with strings that need no escaping
// copied as they are: nlohmann escapes byte by byte, which was most of the time of a large list.
void JsonWriter::value(const Json& value) {
  std::string& out = impl_->out;
  switch (value.type()) {
    case Json::value_t::object: {
      out.push_back('{');
      bool first = true;
      for (auto it = value.begin(); it != value.end(); ++it) {
        if (!first) out.push_back(',');
        first = false;
        string(it.key());
        out.push_back(':');
        this->value(*it);
      }
      out.push_back('}');
      return;
    }
    case Json::value_t::array: {
      out.push_back('[');
      bool first = true;
      for (const Json& item : value) {
        if (!first) out.push_back(',');
        first = false;
        this->value(item);
      }
      out.push_back(']');
      return;
    }
    case Json::value_t::string: string(value.get_ref<const std::string&>()); return;
    case Json::value_t::boolean: out.append(value.get<bool>() ? "true" : "false"); return;
    case Json::value_t::null: out.append("null"); return;
    case Json::value_t::number_integer: out.append(std::to_string(value.get<std::int64_t>())); return;
    case Json::value_t::number_unsigned: out.append(std::to_string(value.get<std::uint64_t>())); return;
    default: impl_->serializer.dump(value, false, false, 0); return;  // floats, binary: nlohmann's format
  }
}

void JsonWriter::string(std::string_view text) {
  bool plain = true;
  for (char c : text) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x80 || c == '"' || c == '\\') {
      plain = false;
      break;
    }
  }
  if (!plain) {
    impl_->serializer.dump(Json(text), false, false, 0);
    return;
  }
  std::string& out = impl_->out;
  out.push_back('"');
  out.append(text);
  out.push_back('"');
}

void JsonWriter::object(const Json& object, std::string_view api_version, bool type_meta) {
  if (!object.is_object()) {
    value(object);
    return;
  }
  auto stored = object.find("apiVersion");
  bool same_version = api_version.empty() ||
                      (stored != object.end() && stored->is_string() && stored->get_ref<const std::string&>() == api_version);
  if (type_meta && same_version) {
    value(object);
    return;
  }
  std::string& out = impl_->out;
  out.push_back('{');
  bool first = true;
  for (auto it = object.begin(); it != object.end(); ++it) {
    const std::string& key = it.key();
    bool is_type_meta = key == "apiVersion" || key == "kind";
    if (is_type_meta && !type_meta) continue;
    if (!first) out.push_back(',');
    first = false;
    string(key);
    out.push_back(':');
    if (key == "apiVersion") {
      string(api_version);
    } else {
      value(*it);
    }
  }
  out.push_back('}');
}

std::string object_json(const Json& object, std::string_view api_version) {
  std::string out;
  {
    JsonWriter writer(out);
    writer.object(object, api_version);
  }
  return out;
}

}  // namespace refit::serve
