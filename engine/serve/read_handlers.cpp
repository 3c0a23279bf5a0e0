// GET of an object and of a collection (lists with selectors and paging), as JSON or, for kubectl get's
// human-readable output, as Tables.
#include <algorithm>
#include <charconv>
#include <functional>
#include <optional>
#include <vector>

#include <fmt/format.h>

#include "cluster/selectors.hpp"
#include "data/json_fields.hpp"
#include "serve/api_request.hpp"
#include "serve/json_writer.hpp"
#include "serve/list_paging.hpp"
#include "serve/table_view.hpp"

namespace refit::serve {

using data::string_member;

namespace {

const Json& metadata_of(const Json& object) {
  static const Json kNone = Json::object();
  auto it = object.find("metadata");
  return it != object.end() ? *it : kNone;
}

std::size_t parse_limit(const ApiRequest& request) {
  std::string text = request.query("limit");
  if (text.empty()) return 0;
  std::int64_t limit = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), limit);
  if (ec != std::errc() || end != text.data() + text.size() || limit < 0) {
    throw bad_request(fmt::format("limit: invalid value \"{}\": a non-negative integer", text));
  }
  return static_cast<std::size_t>(limit);
}

// Where a page of a list ends.
struct PageEnd {
  std::uint64_t resource_version = 0;
  ContinueToken next;  // the last object of the page, and how many follow it (none: the list ends here)
};

// Hands each object of one page of the request's list to `take`, in namespace/name order. A page starts
// at its token, not at the kind's first object; the index walks (node, label) may still pass objects
// before it, which after_token skips. Every walk is in namespace/name order, so once the page is full
// the rest is only counted: by the first page, which has no count yet; later pages stop at the first
// item past theirs and count down from the token's.
PageEnd walk_page(const ApiRequest& request, std::size_t limit, const std::optional<ContinueToken>& token,
                  const std::function<void(const Json&)>& take) {
  const ResourceInfo& resource = request.resource;
  sim::ListQuery query{resource.api_version, resource.kind, resource.namespaced ? request.path.ns : std::string(),
                       request.query("labelSelector"), request.query("fieldSelector")};
  PageEnd end;
  end.resource_version = token ? token->resource_version : request.cluster.store().resource_version();
  end.next = ContinueToken{end.resource_version, {}, {}, 0};
  std::size_t included = 0, remaining = 0;
  bool more = false;
  try {
    auto visit = [&](const Json& object) {
      if (limit != 0 && included == limit) {
        more = true;
        ++remaining;
        return !token;
      }
      const Json& metadata = metadata_of(object);
      std::string_view ns = string_member(metadata, "namespace"), name = string_member(metadata, "name");
      if (token && !after_token(*token, ns, name)) return true;
      ++included;
      take(object);
      end.next.ns = ns;
      end.next.name = name;
      return true;
    };
    request.cluster.store().walk_after(query, token ? token->ns : "", token ? token->name : "", visit);
  } catch (const SelectorError& e) {
    throw bad_request(e.what());
  }
  if (more && token) {
    remaining = std::max<std::uint64_t>(token->remaining > included ? token->remaining - included : 0, 1);
  }
  end.next.remaining = remaining;
  return end;
}

// Items come first and metadata last: the continue token and the count of what is left are known
// only once the items are written, and writing them into the response directly saves a copy of a
// list that may hold 10,000 Nodes.
std::string list_body(const ApiRequest& request, std::size_t limit, const std::optional<ContinueToken>& token) {
  const ResourceInfo& resource = request.resource;
  ItemCache& cache = request.world.item_cache(request.cluster.name());
  // Only Secrets may be served otherwise than stored: a list of 10,000 Nodes asks nothing of each.
  const ServedSecrets* secrets = resource.kind == "Secret" && resource.group.empty() ? request.world.secrets().get() : nullptr;
  // Only a whole list of the kind is like the last one.
  bool whole = limit == 0 && !token && (!resource.namespaced || request.path.ns.empty()) &&
               request.query("labelSelector").empty() && request.query("fieldSelector").empty();
  std::string out;
  if (whole) out.reserve(cache.list_size_hint(resource.kind) + 4096);
  JsonWriter writer(out);
  writer.raw("{\"kind\":");
  writer.string(resource.kind + "List");
  writer.raw(",\"apiVersion\":");
  writer.string(resource.api_version);
  writer.raw(",\"items\":[");
  bool first = true;
  PageEnd end = walk_page(request, limit, token, [&](const Json& object) {
    if (!first) writer.raw(",");
    first = false;
    // Custom resources keep apiVersion and kind in list items; built-in kinds do not. A served
    // kubeconfig Secret is written afresh (its stored form is what the cache would keep).
    std::optional<Json> served = secrets != nullptr ? secrets->served(object) : std::nullopt;
    if (served) writer.object(*served, resource.api_version, resource.custom);
    else writer.raw(cache.item(object, resource.api_version, resource.custom));
  });
  writer.raw("],\"metadata\":{\"resourceVersion\":");
  writer.string(std::to_string(end.resource_version));
  if (end.next.remaining != 0) {
    writer.raw(",\"continue\":");
    writer.string(encode_continue(end.next));
    writer.raw(fmt::format(",\"remainingItemCount\":{}", end.next.remaining));
  }
  writer.raw("}}");
  if (whole) cache.note_list_size(resource.kind, out.size());
  return out;
}

// kubectl get's human-readable output: the objects, as clients see them, as a Table of `version`.
std::string table_body(const ApiRequest& request, const std::string& version, const std::vector<const Json*>& objects,
                       const TablePage& page) {
  return table_of(version, request.resource.kind, objects, request.world.runtime().now(), request.query("includeObject"),
                  page)
      .dump();
}

}  // namespace

void handle_get(const ApiRequest& request) {
  std::optional<std::string> table = table_requested(request.http.get_header_value("Accept"));
  std::string body;
  bool found = request.cluster.get(request.ref(), [&](const Json& object) {
    if (!table) {
      body = request.world.served_json(object, request.resource.api_version);
      return;
    }
    std::optional<Json> scratch;
    body = table_body(request, *table, {&request.world.client_view(object, scratch)},
                      TablePage{std::string(string_member(metadata_of(object), "resourceVersion")), {}, {}});
  });
  if (!found) throw not_found(request.subject());
  respond_json(request.response, 200, std::move(body));
}

void handle_list(const ApiRequest& request) {
  std::size_t limit = parse_limit(request);
  std::optional<ContinueToken> token;
  if (std::string text = request.query("continue"); !text.empty()) {
    token = decode_continue(text);
    if (!token) throw bad_request("continue: the continue token is not valid (it was not issued by this server)");
  }
  if (std::optional<std::string> table = table_requested(request.http.get_header_value("Accept"))) {
    std::vector<Json> objects;  // copies: the store hands out references only while it walks
    PageEnd end = walk_page(request, limit, token, [&](const Json& object) {
      std::optional<Json> scratch;
      objects.push_back(request.world.client_view(object, scratch));
    });
    std::vector<const Json*> rows;
    for (const Json& object : objects) rows.push_back(&object);
    TablePage page{std::to_string(end.resource_version), {}, {}};
    if (end.next.remaining != 0) {
      page.continue_token = encode_continue(end.next);
      page.remaining = end.next.remaining;
    }
    respond_json(request.response, 200, table_body(request, *table, rows, page));
    return;
  }
  respond_json(request.response, 200, list_body(request, limit, token));
}

}  // namespace refit::serve
