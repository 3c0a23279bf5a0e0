// The protobuf wire format (varints, length-delimited fields) read against a small table of message
// layouts: the field numbers of k8s.io/api's generated.proto for the kinds kubectl's create commands send
// as protobuf. Another kind is another table entry.
#include "serve/protobuf_body.hpp"

#include <fmt/format.h>

#include <cstdint>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include "cluster/kube/base64.hpp"
#include "run/utc_time.hpp"
#include "serve/status.hpp"

namespace refit::serve {
namespace {

using Json = nlohmann::json;

enum class Type {
  String,
  Bytes,      // base64 in JSON
  Int,        // int32 or int64
  Bool,
  Time,       // metav1.Time {seconds = 1, nanos = 2}: RFC 3339 in JSON
  Message,
  StringMap,  // map<string, string>
  BytesMap,   // map<string, bytes>
  Strings,    // repeated string
  Messages,   // repeated message
  IntOrString,  // intstr.IntOrString {type = 1, intVal = 2, strVal = 3}: a number or a string in JSON
};

struct Layout;
struct Field {
  int number;
  const char* name;
  Type type = Type::String;
  const Layout* layout = nullptr;  // of a Message or Messages field
  // An empty string, a zero or false is written to JSON too: a field without omitempty
  // (PriorityClass.value), or a pointer, which protobuf carries only when it is set (immutable).
  bool keep_zero = false;
};
struct Layout {
  std::vector<Field> fields;
};

// k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto (selfLink and managedFields are not read: the
// API server ignores both on writes).
const Layout kOwnerReference{{{1, "kind", Type::String, nullptr, true},
                              {3, "name", Type::String, nullptr, true},
                              {4, "uid", Type::String, nullptr, true},
                              {5, "apiVersion", Type::String, nullptr, true},
                              {6, "controller", Type::Bool, nullptr, true},
                              {7, "blockOwnerDeletion", Type::Bool, nullptr, true}}};
const Layout kObjectMeta{{{1, "name"},
                          {2, "generateName"},
                          {3, "namespace"},
                          {5, "uid"},
                          {6, "resourceVersion"},
                          {7, "generation", Type::Int},
                          {8, "creationTimestamp", Type::Time},
                          {9, "deletionTimestamp", Type::Time},
                          {10, "deletionGracePeriodSeconds", Type::Int, nullptr, true},
                          {11, "labels", Type::StringMap},
                          {12, "annotations", Type::StringMap},
                          {13, "ownerReferences", Type::Messages, &kOwnerReference},
                          {14, "finalizers", Type::Strings}}};

// k8s.io/api/core/v1/generated.proto.
const Layout kObjectReference{
    {{1, "kind"}, {2, "namespace"}, {3, "name"}, {4, "uid"}, {5, "apiVersion"}, {6, "resourceVersion"},
     {7, "fieldPath"}}};
const Layout kLocalObjectReference{{{1, "name"}}};
const Layout kSecret{{{1, "metadata", Type::Message, &kObjectMeta},
                      {2, "data", Type::BytesMap},
                      {3, "type"},
                      {4, "stringData", Type::StringMap},
                      {5, "immutable", Type::Bool, nullptr, true}}};
const Layout kConfigMap{{{1, "metadata", Type::Message, &kObjectMeta},
                         {2, "data", Type::StringMap},
                         {3, "binaryData", Type::BytesMap},
                         {4, "immutable", Type::Bool, nullptr, true}}};
const Layout kNamespaceSpec{{{1, "finalizers", Type::Strings}}};
const Layout kNamespace{{{1, "metadata", Type::Message, &kObjectMeta}, {2, "spec", Type::Message, &kNamespaceSpec}}};
const Layout kServiceAccount{{{1, "metadata", Type::Message, &kObjectMeta},
                              {2, "secrets", Type::Messages, &kObjectReference},
                              {3, "imagePullSecrets", Type::Messages, &kLocalObjectReference},
                              {4, "automountServiceAccountToken", Type::Bool, nullptr, true}}};

// k8s.io/apimachinery/pkg/apis/meta/v1: LabelSelector.
const Layout kLabelSelectorRequirement{{{1, "key"}, {2, "operator"}, {3, "values", Type::Strings}}};
const Layout kLabelSelector{
    {{1, "matchLabels", Type::StringMap}, {2, "matchExpressions", Type::Messages, &kLabelSelectorRequirement}}};

// k8s.io/api/rbac/v1/generated.proto.
const Layout kPolicyRule{{{1, "verbs", Type::Strings},
                          {2, "apiGroups", Type::Strings},
                          {3, "resources", Type::Strings},
                          {4, "resourceNames", Type::Strings},
                          {5, "nonResourceURLs", Type::Strings}}};
const Layout kAggregationRule{{{1, "clusterRoleSelectors", Type::Messages, &kLabelSelector}}};
const Layout kRole{{{1, "metadata", Type::Message, &kObjectMeta}, {2, "rules", Type::Messages, &kPolicyRule}}};
const Layout kClusterRole{{{1, "metadata", Type::Message, &kObjectMeta},
                           {2, "rules", Type::Messages, &kPolicyRule},
                           {3, "aggregationRule", Type::Message, &kAggregationRule}}};
const Layout kSubject{{{1, "kind", Type::String, nullptr, true},
                       {2, "apiGroup"},
                       {3, "name", Type::String, nullptr, true},
                       {4, "namespace"}}};
const Layout kRoleRef{{{1, "apiGroup", Type::String, nullptr, true},
                       {2, "kind", Type::String, nullptr, true},
                       {3, "name", Type::String, nullptr, true}}};
const Layout kRoleBinding{{{1, "metadata", Type::Message, &kObjectMeta},
                           {2, "subjects", Type::Messages, &kSubject},
                           {3, "roleRef", Type::Message, &kRoleRef}}};

// k8s.io/api/scheduling/v1 and policy/v1.
const Layout kPriorityClass{{{1, "metadata", Type::Message, &kObjectMeta},
                             {2, "value", Type::Int, nullptr, true},
                             {3, "globalDefault", Type::Bool},
                             {4, "description"},
                             {5, "preemptionPolicy"}}};
const Layout kPodDisruptionBudgetSpec{{{1, "minAvailable", Type::IntOrString},
                                       {2, "selector", Type::Message, &kLabelSelector},
                                       {3, "maxUnavailable", Type::IntOrString},
                                       {4, "unhealthyPodEvictionPolicy"}}};
const Layout kPodDisruptionBudget{{{1, "metadata", Type::Message, &kObjectMeta},
                                   {2, "spec", Type::Message, &kPodDisruptionBudgetSpec}}};

// The kinds read, by kind: each layout is the kind's whole message, so nothing a client sends is
// dropped, but for status (Namespaces, PodDisruptionBudgets), which a create or update does not set.
const std::map<std::string_view, const Layout*> kKinds = {
    {"ClusterRole", &kClusterRole},       {"ClusterRoleBinding", &kRoleBinding},
    {"ConfigMap", &kConfigMap},           {"Namespace", &kNamespace},
    {"PodDisruptionBudget", &kPodDisruptionBudget}, {"PriorityClass", &kPriorityClass},
    {"Role", &kRole},                     {"RoleBinding", &kRoleBinding},
    {"Secret", &kSecret},                 {"ServiceAccount", &kServiceAccount}};

// runtime.Unknown, the envelope, and its TypeMeta.
const Layout kTypeMeta{{{1, "apiVersion"}, {2, "kind"}}};

constexpr int kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5;

// What nlohmann::json can write out (it refuses invalid UTF-8 when the object is sent on).
bool valid_utf8(std::string_view s) {
  try {
    (void)Json(std::string(s)).dump();
    return true;
  } catch (const Json::type_error&) {
    return false;
  }
}

// Reads one message's bytes; `base` is where they start in the whole body, for messages.
class Reader {
 public:
  Reader(std::string_view bytes, std::size_t base, std::string_view what) : bytes_(bytes), base_(base), what_(what) {}

  bool done() const { return pos_ >= bytes_.size(); }

  std::uint64_t varint() {
    std::uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (done()) fail("a number breaks off");
      auto byte = static_cast<unsigned char>(bytes_[pos_++]);
      value |= static_cast<std::uint64_t>(byte & 0x7f) << shift;
      if ((byte & 0x80) == 0) return value;
    }
    fail("a number is longer than 10 bytes");
  }

  // A length-delimited field's bytes, and where they start.
  std::pair<std::string_view, std::size_t> delimited() {
    std::uint64_t length = varint();
    if (length > bytes_.size() - pos_) fail("a field is longer than what is left of the body");
    std::size_t start = pos_;
    pos_ += static_cast<std::size_t>(length);
    return {bytes_.substr(start, static_cast<std::size_t>(length)), base_ + start};
  }

  void skip(int wire) {
    switch (wire) {
      case kVarint: varint(); return;
      case kFixed64: advance(8); return;
      case kLengthDelimited: delimited(); return;
      case kFixed32: advance(4); return;
      default: fail(fmt::format("wire type {} is not one this encoding uses", wire));
    }
  }

  [[noreturn]] void fail(const std::string& why) const {
    throw bad_request(fmt::format("the request body is not a valid {} in protobuf: {} (at byte {})", what_, why,
                                  base_ + pos_));
  }

 private:
  void advance(std::size_t n) {
    if (n > bytes_.size() - pos_) fail("a field breaks off");
    pos_ += n;
  }

  std::string_view bytes_;
  std::size_t base_;
  std::string_view what_;
  std::size_t pos_ = 0;
};

Json decode_message(std::string_view bytes, std::size_t base, const Layout& layout, std::string_view what);

std::string text_of(Reader& reader, std::string_view value, const char* field) {
  if (!valid_utf8(value)) reader.fail(fmt::format("{} is not UTF-8 text", field));
  return std::string(value);
}

// A map entry {key = 1, value = 2}.
std::pair<std::string, std::string> map_entry(std::string_view bytes, std::size_t base, bool bytes_value,
                                              const Field& field, std::string_view what) {
  Reader reader(bytes, base, what);
  std::string key, value;
  while (!reader.done()) {
    std::uint64_t tag = reader.varint();
    int number = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    if ((number == 1 || number == 2) && wire == kLengthDelimited) {
      std::string_view part = reader.delimited().first;
      if (number == 1) key = text_of(reader, part, field.name);
      else value = bytes_value ? kube::encode_base64(std::string(part)) : text_of(reader, part, field.name);
    } else {
      reader.skip(wire);
    }
  }
  return {std::move(key), std::move(value)};
}

void read_field(Reader& reader, int wire, const Field& field, Json& object, std::string_view what) {
  auto expect = [&](int wanted) {
    if (wire != wanted) {
      reader.fail(fmt::format("field {} ({}) has wire type {}, not {}", field.number, field.name, wire, wanted));
    }
  };
  switch (field.type) {
    case Type::String: {
      expect(kLengthDelimited);
      std::string text = text_of(reader, reader.delimited().first, field.name);
      if (!text.empty() || field.keep_zero) object[field.name] = std::move(text);
      return;
    }
    case Type::Bytes: {
      expect(kLengthDelimited);
      object[field.name] = kube::encode_base64(std::string(reader.delimited().first));
      return;
    }
    case Type::Int: {
      expect(kVarint);
      auto value = static_cast<std::int64_t>(reader.varint());
      if (value != 0 || field.keep_zero) object[field.name] = value;
      return;
    }
    case Type::Bool: {
      expect(kVarint);
      bool value = reader.varint() != 0;
      if (value || field.keep_zero) object[field.name] = value;
      return;
    }
    case Type::Time: {
      expect(kLengthDelimited);
      auto [bytes, base] = reader.delimited();
      Reader time(bytes, base, what);
      std::int64_t seconds = 0;
      while (!time.done()) {
        std::uint64_t tag = time.varint();
        if ((tag >> 3) == 1 && (tag & 7) == kVarint) seconds = static_cast<std::int64_t>(time.varint());
        else time.skip(static_cast<int>(tag & 7));
      }
      if (seconds != 0) object[field.name] = run::utc_seconds_text(seconds * 1000);  // the zero time is JSON's null: left out
      return;
    }
    case Type::Message: {
      expect(kLengthDelimited);
      auto [bytes, base] = reader.delimited();
      object[field.name] = decode_message(bytes, base, *field.layout, what);
      return;
    }
    case Type::StringMap:
    case Type::BytesMap: {
      expect(kLengthDelimited);
      auto [bytes, base] = reader.delimited();
      auto [key, value] = map_entry(bytes, base, field.type == Type::BytesMap, field, what);
      object[field.name][key] = std::move(value);
      return;
    }
    case Type::Strings: {
      expect(kLengthDelimited);
      object[field.name].push_back(text_of(reader, reader.delimited().first, field.name));
      return;
    }
    case Type::IntOrString: {
      expect(kLengthDelimited);
      auto [bytes, base] = reader.delimited();
      Reader value(bytes, base, what);
      std::int64_t type = 0, number = 0;
      std::string text;
      while (!value.done()) {
        std::uint64_t tag = value.varint();
        int n = static_cast<int>(tag >> 3), w = static_cast<int>(tag & 7);
        if (n == 1 && w == kVarint) type = static_cast<std::int64_t>(value.varint());
        else if (n == 2 && w == kVarint) number = static_cast<std::int32_t>(value.varint());
        else if (n == 3 && w == kLengthDelimited) text = text_of(value, value.delimited().first, field.name);
        else value.skip(w);
      }
      if (type == 1) object[field.name] = std::move(text);
      else object[field.name] = number;
      return;
    }
    case Type::Messages: {
      expect(kLengthDelimited);
      auto [bytes, base] = reader.delimited();
      object[field.name].push_back(decode_message(bytes, base, *field.layout, what));
      return;
    }
  }
}

Json decode_message(std::string_view bytes, std::size_t base, const Layout& layout, std::string_view what) {
  Reader reader(bytes, base, what);
  Json object = Json::object();
  while (!reader.done()) {
    std::uint64_t tag = reader.varint();
    int number = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    const Field* field = nullptr;
    for (const Field& f : layout.fields) {
      if (f.number == number) field = &f;
    }
    if (field == nullptr) reader.skip(wire);
    else read_field(reader, wire, *field, object, what);
  }
  return object;
}

std::string known_kinds() {
  std::vector<std::string_view> names;
  for (const auto& [kind, layout] : kKinds) names.push_back(kind);
  std::string last(names.back());
  names.pop_back();
  return fmt::format("{} and {}", fmt::join(names, ", "), last);
}

}  // namespace

Json decode_protobuf_body(std::string_view body, std::string_view kind, std::string_view subresource) {
  std::string what = fmt::format("{} (runtime.Unknown)", kind);
  Reader envelope(body, 0, what);
  static constexpr std::string_view kMagic("k8s\0", 4);
  if (body.substr(0, 4) != kMagic) envelope.fail("it does not start with the 4 bytes \"k8s\\0\"");
  Reader unknown(body.substr(4), 4, what);
  Json type_meta = Json::object();
  std::string_view raw;
  std::size_t raw_base = 0;
  bool has_raw = false;
  while (!unknown.done()) {
    std::uint64_t tag = unknown.varint();
    int number = static_cast<int>(tag >> 3), wire = static_cast<int>(tag & 7);
    if (number == 1 && wire == kLengthDelimited) {
      auto [bytes, base] = unknown.delimited();
      type_meta = decode_message(bytes, base, kTypeMeta, what);
    } else if (number == 2 && wire == kLengthDelimited) {
      std::tie(raw, raw_base) = unknown.delimited();
      has_raw = true;
    } else if (number == 3 && wire == kLengthDelimited) {
      if (!unknown.delimited().first.empty()) {
        unknown.fail("its contentEncoding is set: compressed bodies are not read");
      }
    } else {
      unknown.skip(wire);
    }
  }
  if (!has_raw) unknown.fail("it holds no object (runtime.Unknown.raw)");
  std::string body_kind = type_meta.value("kind", std::string(kind));
  auto layout = kKinds.find(body_kind);
  if (layout == kKinds.end() || !subresource.empty()) {
    std::string why = layout == kKinds.end()
                          ? fmt::format("only of {}: send this {} as JSON", known_kinds(), body_kind)
                          : fmt::format("only for whole objects: send the {} of this {} as JSON", subresource,
                                        body_kind);
    throw StatusError(415, "UnsupportedMediaType",
                      fmt::format("the body of the request was in an unknown format - accepted media types include: "
                                  "application/json, application/yaml (refit sim serve reads {} bodies {})",
                                  kProtobufMediaType, why));
  }
  Json object = decode_message(raw, raw_base, *layout->second, body_kind);
  object["kind"] = body_kind;
  if (type_meta.contains("apiVersion")) object["apiVersion"] = type_meta["apiVersion"];
  return object;
}

}  // namespace refit::serve
