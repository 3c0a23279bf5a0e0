// The JSON of list items, kept from one list to the next: a list of 10,000 Nodes is mostly the same
// objects as the last one, and copying their text is ten times faster than writing it again. An
// entry is valid while the stored object keeps its uid and resourceVersion (every change takes a new
// one); a deleted object's entry is dropped. Used under the world's lock only.
#pragma once
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <unordered_map>

namespace refit::serve {

using Json = nlohmann::json;

class ItemCache {
 public:
  // `object`'s JSON as a list item (see JsonWriter::object), from the cache when it is still valid.
  // `object` must be a reference into the store: its address identifies it.
  const std::string& item(const Json& object, std::string_view api_version, bool type_meta);

  // The object at this address is gone.
  void forget(const Json& object) { entries_.erase(&object); }

  std::size_t size() const { return entries_.size(); }

  // The size of the last list of `kind`: the next one reserves that much, instead of growing (and
  // copying) an 18 MB string step by step.
  std::size_t list_size_hint(const std::string& kind) const {
    auto it = list_sizes_.find(kind);
    return it == list_sizes_.end() ? 0 : it->second;
  }
  void note_list_size(const std::string& kind, std::size_t bytes) { list_sizes_[kind] = bytes; }

 private:
  struct Entry {
    std::string uid;
    std::string resource_version;
    std::string api_version;
    bool type_meta = false;
    std::string text;
  };
  std::unordered_map<const Json*, Entry> entries_;
  std::unordered_map<std::string, std::size_t> list_sizes_;
};

}  // namespace refit::serve
