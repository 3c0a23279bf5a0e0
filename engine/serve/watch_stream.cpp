// GET ...?watch=1: a stream of {"type": ..., "object": ...} lines, as the API server sends them. The
// request's lock covers only the start (the current state for a watch without resourceVersion); the
// stream then reads the watch history without it, until the timeout, the client leaving, or the
// server stopping.
#include <charconv>
#include <memory>

#include <fmt/format.h>

#include "cluster/kinds.hpp"
#include "cluster/selectors.hpp"
#include "data/json_fields.hpp"
#include "serve/api_request.hpp"
#include "serve/connection_probe.hpp"
#include "serve/json_writer.hpp"
#include "serve/table_view.hpp"

namespace refit::serve {

using data::string_member;

namespace {

using Clock = std::chrono::steady_clock;

// The API server's default: --min-request-timeout (1800 s).
constexpr std::chrono::seconds kDefaultTimeout{1800};
// How often an idle stream checks that its client is still there.
constexpr std::chrono::milliseconds kProbeInterval{250};
// How often a stream that allows bookmarks sends one (the API server: about every minute).
constexpr std::chrono::seconds kBookmarkInterval{60};

const Json& metadata_of(const Json& object) {
  static const Json kNone = Json::object();
  if (!object.is_object()) return kNone;
  auto it = object.find("metadata");
  return it != object.end() ? *it : kNone;
}

// How a watch writes an event's object: as itself, or as a one-row Table when kubectl asked for Tables
// (get -w without -o), as the API server does.
struct EventFormat {
  std::string api_version;
  std::string kind;
  std::optional<std::string> table_version;
  std::string include_object;
  // Served kubeconfig Secrets are written as a client reads them (served_secrets.hpp).
  std::shared_ptr<const ServedSecrets> secrets;

  void line(std::string& out, std::string_view type, const Json& stored, std::int64_t world_ms) const {
    std::optional<Json> served = secrets ? secrets->served(stored) : std::nullopt;
    const Json& object = served ? *served : stored;
    JsonWriter writer(out);
    writer.raw("{\"type\":\"");
    writer.raw(type);
    writer.raw("\",\"object\":");
    if (table_version) {
      const Json& metadata = metadata_of(object);
      TablePage page{std::string(string_member(metadata, "resourceVersion")), {}, {}};
      writer.raw(table_of(*table_version, kind, {&object}, world_ms, include_object, page).dump());
    } else {
      writer.object(object, api_version);
    }
    writer.raw("}\n");
  }
};

struct WatchFilter {
  std::string group, kind, ns;
  LabelSelector labels;
  FieldSelector fields;

  bool same_kind(const WatchEvent& event) const { return event.kind == kind && event.group == group; }

  bool matches(const Json& object) const {
    const Json& metadata = metadata_of(object);
    if (!ns.empty() && string_member(metadata, "namespace") != ns) return false;
    if (!labels.matches_everything()) {
      auto labels_it = metadata.find("labels");
      if (!labels.matches(labels_it != metadata.end() ? *labels_it : Json())) return false;
    }
    return fields.matches_everything() || fields.matches(object);
  }
};

class WatchStream {
 public:
  WatchStream(WatchHub& hub, std::string cluster, WatchFilter filter, EventFormat format, std::uint64_t cursor,
              Clock::time_point deadline, bool bookmarks, std::string initial, int local_port, int remote_port)
      : hub_(hub), cluster_(std::move(cluster)), filter_(std::move(filter)), format_(std::move(format)),
        cursor_(cursor), deadline_(deadline), bookmarks_(bookmarks), initial_(std::move(initial)),
        probe_(local_port, remote_port) {}

  // Streams until the end; false when the client went away (the write failed or it closed).
  bool run(httplib::DataSink& sink) {
    if (!initial_.empty() && !write(sink, initial_)) return false;
    initial_.clear();
    auto last_bookmark = Clock::now();
    std::vector<WatchEventPtr> events;
    std::string out;
    for (;;) {
      auto now = Clock::now();
      if (now >= deadline_) break;
      events.clear();
      std::uint64_t oldest = 0;
      HistoryRead read = hub_.read_after(cluster_, cursor_, std::min(deadline_, now + kProbeInterval), events, oldest);
      if (read == HistoryRead::Stopped) return true;
      if (read == HistoryRead::TooOld) return write(sink, too_old(oldest));
      out.clear();
      for (const WatchEventPtr& event : events) {
        cursor_ = event->resource_version;
        render(*event, out);
      }
      if (!out.empty() && !write(sink, out)) return false;
      if (events.empty() && !probe_.open()) return false;
      if (bookmarks_ && Clock::now() - last_bookmark >= kBookmarkInterval) {
        if (!write(sink, bookmark())) return false;
        last_bookmark = Clock::now();
      }
    }
    return !bookmarks_ || write(sink, bookmark());
  }

 private:
  static bool write(httplib::DataSink& sink, const std::string& text) { return sink.write(text.data(), text.size()); }

  // As the API server's watch cache: an object that starts matching the selectors is ADDED for
  // this watch, one that stops matching is DELETED (with its previous content at the new version).
  void render(const WatchEvent& event, std::string& out) const {
    auto line = [&](std::string& text, std::string_view type, const Json& object) {
      format_.line(text, type, object, event.world_ms);
    };
    if (!filter_.same_kind(event)) return;
    bool now_matches = filter_.matches(*event.object);
    switch (event.type) {
      case sim::ChangeType::Added:
        if (now_matches) line(out, "ADDED", *event.object);
        return;
      case sim::ChangeType::Deleted:
        if (now_matches) line(out, "DELETED", *event.object);
        return;
      case sim::ChangeType::Modified: break;
    }
    bool matched = event.old != nullptr ? filter_.matches(*event.old) : now_matches;
    if (matched && now_matches) {
      line(out, "MODIFIED", *event.object);
    } else if (now_matches) {
      line(out, "ADDED", *event.object);
    } else if (matched) {
      Json previous = *event.old;
      previous["metadata"]["resourceVersion"] = std::to_string(event.resource_version);
      line(out, "DELETED", previous);
    }
  }

  // At the version this stream has read every event up to: never the hub's latest, which may hold
  // events published since the last read, and a client that re-opens its watch from the bookmark
  // would never see them.
  std::string bookmark() const {
    Json object = {{"kind", format_.kind}, {"apiVersion", format_.api_version},
                   {"metadata", {{"resourceVersion", std::to_string(cursor_)}}}};
    return Json{{"type", "BOOKMARK"}, {"object", std::move(object)}}.dump() + "\n";
  }

  std::string too_old(std::uint64_t oldest) const {
    StatusError gone(410, "Expired", fmt::format("too old resource version: {} ({})", cursor_, oldest));
    return Json{{"type", "ERROR"}, {"object", failure_status(gone)}}.dump() + "\n";
  }

  WatchHub& hub_;
  std::string cluster_;
  WatchFilter filter_;
  EventFormat format_;
  std::uint64_t cursor_;
  Clock::time_point deadline_;
  bool bookmarks_;
  std::string initial_;
  ConnectionProbe probe_;
};

std::chrono::milliseconds watch_timeout(const ApiRequest& request) {
  std::chrono::milliseconds timeout = kDefaultTimeout;
  if (std::string text = request.query("timeoutSeconds"); !text.empty()) {
    std::int64_t seconds = -1;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), seconds);
    if (ec != std::errc() || end != text.data() + text.size() || seconds < 0) {
      throw bad_request(fmt::format("timeoutSeconds: invalid value \"{}\": a non-negative integer", text));
    }
    timeout = std::chrono::seconds(seconds);
  }
  // kubectl --request-timeout sends ?timeout=: the client gives up then, so the stream ends too.
  if (std::string text = request.query("timeout"); !text.empty()) {
    auto client = parse_go_duration(text);
    if (!client) throw bad_request(fmt::format("timeout: invalid duration \"{}\"", text));
    if (*client > std::chrono::milliseconds(0)) timeout = std::min(timeout, *client);
  }
  return timeout;
}

}  // namespace

void handle_watch(const ApiRequest& request) {
  const ResourceInfo& resource = request.resource;
  WatchFilter filter;
  filter.kind = resource.kind;
  filter.group = std::string(storage_group_of(resource.group, resource.kind));
  filter.ns = resource.namespaced ? request.path.ns : std::string();
  std::string field_selector = request.query("fieldSelector");
  if (!request.path.name.empty()) {
    // GET .../pods/<name>?watch=1, the older form of fieldSelector=metadata.name=<name>
    field_selector += (field_selector.empty() ? "" : ",") + std::string("metadata.name=") + request.path.name;
  }
  try {
    filter.labels = LabelSelector::parse(request.query("labelSelector"));
    filter.fields = FieldSelector::parse(field_selector);
  } catch (const SelectorError& e) {
    throw bad_request(e.what());
  }
  auto deadline = Clock::now() + watch_timeout(request);
  if (request.watch_lifetime_ms) {
    deadline = std::min(deadline, Clock::now() + std::chrono::milliseconds(*request.watch_lifetime_ms));
  }
  bool bookmarks = request.flag("allowWatchBookmarks");
  EventFormat format{resource.api_version, resource.kind, table_requested(request.http.get_header_value("Accept")),
                     request.query("includeObject"), request.world.secrets()};

  // Without a resourceVersion (or "0"), the watch starts with the current state as ADDED events.
  std::string from = request.query("resourceVersion");
  std::uint64_t cursor = 0;
  std::string initial;
  if (from.empty() || from == "0") {
    cursor = request.cluster.store().resource_version();
    sim::ListQuery query{resource.api_version, resource.kind, filter.ns, request.query("labelSelector"), field_selector};
    const std::int64_t now = request.world.runtime().now();
    request.cluster.list(query, [&](const Json& object) { format.line(initial, "ADDED", object, now); });
  } else {
    auto [end, ec] = std::from_chars(from.data(), from.data() + from.size(), cursor);
    if (ec != std::errc() || end != from.data() + from.size()) {
      throw bad_request(fmt::format("resourceVersion: invalid value \"{}\": a resource version this server sent", from));
    }
  }

  auto stream = std::make_shared<WatchStream>(request.world.hub(), request.cluster.name(), std::move(filter),
                                              std::move(format), cursor, deadline, bookmarks, std::move(initial),
                                              request.http.local_port, request.http.remote_port);
  request.response.status = 200;
  request.response.set_chunked_content_provider("application/json", [stream](std::size_t, httplib::DataSink& sink) {
    // This runs after the handler, outside the router's error handling: a failure ends the stream
    // with an ERROR event that says what went wrong.
    try {
      if (!stream->run(sink)) return false;
    } catch (const std::exception& e) {
      std::string line =
          Json{{"type", "ERROR"}, {"object", failure_status(StatusError(500, "InternalError", e.what()))}}.dump() + "\n";
      if (!sink.write(line.data(), line.size())) return false;
    }
    sink.done();
    return true;
  });
}

}  // namespace refit::serve
