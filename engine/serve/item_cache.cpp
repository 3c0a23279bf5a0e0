#include "serve/item_cache.hpp"

#include "serve/json_writer.hpp"

namespace refit::serve {
namespace {

std::string_view metadata_string(const Json& object, const char* key) {
  auto metadata = object.find("metadata");
  if (metadata == object.end() || !metadata->is_object()) return {};
  auto it = metadata->find(key);
  return it != metadata->end() && it->is_string() ? std::string_view(it->get_ref<const std::string&>()) : std::string_view();
}

}  // namespace

const std::string& ItemCache::item(const Json& object, std::string_view api_version, bool type_meta) {
  std::string_view uid = metadata_string(object, "uid");
  std::string_view resource_version = metadata_string(object, "resourceVersion");
  Entry& entry = entries_[&object];
  if (entry.uid == uid && entry.resource_version == resource_version && entry.api_version == api_version &&
      entry.type_meta == type_meta && !entry.text.empty()) {
    return entry.text;
  }
  entry.uid = uid;
  entry.resource_version = resource_version;
  entry.api_version = api_version;
  entry.type_meta = type_meta;
  entry.text.clear();
  JsonWriter writer(entry.text);
  writer.object(object, api_version, type_meta);
  return entry.text;
}

}  // namespace refit::serve
