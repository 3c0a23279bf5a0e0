#include "cluster/kube/kube_cluster.hpp"

#include <fmt/format.h>
#include <simdjson.h>

#include "cluster/kinds.hpp"
#include "data/json_fields.hpp"
#include "cluster/kube/kubeconfig_view.hpp"

namespace refit::kube {

using data::string_member;

using cluster::ApiError;

namespace {

const Json& metadata_of(const Json& object) {
  static const Json none = Json::object();
  if (!object.is_object()) return none;
  auto it = object.find("metadata");
  return it != object.end() && it->is_object() ? *it : none;
}

[[noreturn]] void invalid(const std::string& message) { throw ApiError(422, "Invalid", message); }

}  // namespace

struct KubeCluster::Target {
  const ApiResource* resource = nullptr;  // null: the server does not serve the kind (reads only)
  std::string ns, name;
  RequestSubject subject;
};

KubeCluster::KubeCluster(std::string name, Endpoint endpoint, KubeClusterOptions options, WatchHub* hub)
    : name_(std::move(name)),
      options_(std::move(options)),
      http_(std::move(endpoint), options_.warn, options_.http),
      transport_(http_, options_.retry, options_.clock),
      discovery_([this](const std::string& path) -> std::optional<Json> {
        RequestSubject subject{"discover", "", "", "", "", path};
        HttpRequest request;
        request.target = path;
        Exchange exchange = call(std::move(request), SendRules{true}, subject);
        if (exchange.response.status == 404) return std::nullopt;
        return parse(exchange.response, subject);
      }) {
  if (hub != nullptr) {
    waits_ = std::make_unique<WaitCache>(
        http_, *hub,
        [this](const ApiResource& resource, const std::string& ns, const std::string& labels, const std::string& fields,
               const std::function<void(Json&)>& take) { return list_pages(resource, ns, labels, fields, take); },
        transport_, options_.warn, options_.watch_timeout_seconds);
  }
}

KubeCluster::~KubeCluster() = default;

std::vector<cluster::SnapshotKind> KubeCluster::listable_kinds() {
  std::vector<cluster::SnapshotKind> kinds;
  for (const ApiResource& r : discovery_.listable()) kinds.push_back({r.api_version, r.kind});
  return kinds;
}

Exchange KubeCluster::call(HttpRequest request, const SendRules& rules, const RequestSubject& subject) {
  finish_read_ahead();
  return send(std::move(request), rules, subject);
}

void KubeCluster::finish_read_ahead() {
  // Only waits: the page stays for its list to collect, when the request is made from inside that
  // list's visit (a Lua finalizer reading the cluster); a list that was left keeps a finished future
  // until the next read-ahead replaces it.
  if (read_ahead_.valid()) read_ahead_.wait();
}

Exchange KubeCluster::send(HttpRequest request, const SendRules& rules, const RequestSubject& subject) {
  Exchange exchange = transport_.send(request, rules, subject);
  const long status = exchange.response.status;
  // A get's or delete's 404 and a discovery document's absence are answers the caller reads.
  if ((status >= 200 && status < 300) || status == 404) return exchange;
  throw decode_api_error(exchange.response, subject, http_.where(), exchange.attempts);
}

Json KubeCluster::parse(const HttpResponse& response, const RequestSubject& subject) const {
  try {
    return Json::parse(response.body);
  } catch (const Json::parse_error& e) {
    // Not e.what(): it quotes the bytes it read, which may be a Secret's.
    throw ApiError(static_cast<int>(response.status), "",
                   fmt::format("{} {}: the answer of {} is not JSON (it breaks off at byte {} of {})", subject.verb,
                               describe_subject(subject), http_.where(), std::min(e.byte, response.body.size()),
                               response.body.size()));
  }
}

const ApiResource* KubeCluster::resource_for(const std::string& api_version, const std::string& kind, bool writing) {
  std::string api(resolve_api_version(api_version, kind));
  if (const ApiResource* resource = discovery_.find(api, kind)) return resource;
  if (const BuiltinKind* close = closest_builtin_kind(kind, group_of(api))) {
    invalid(fmt::format("{} has no kind {} (did you mean {}?)", api, kind, close->kind));
  }
  // Reads find nothing, as in the simulated world, where a kind nobody defined has no objects; a
  // playbook may count the objects of an optional product's kinds.
  if (!writing) return nullptr;
  if (!discovery_.serves(api)) {
    throw ApiError(404, "NotFound",
                   fmt::format("cluster \"{}\" does not serve apiVersion {} (kind {}): is the CustomResourceDefinition "
                               "that defines it installed?", name_, api, kind));
  }
  throw ApiError(404, "NotFound", fmt::format("cluster \"{}\" serves apiVersion {} but no kind {} in it: check the kind's "
                                              "spelling and version", name_, api, kind));
}

KubeCluster::Target KubeCluster::target_of(const ObjectRef& ref, const char* verb, bool writing) {
  if (ref.kind.empty()) invalid(fmt::format("a ref needs a kind (name \"{}\")", ref.name));
  Target target;
  target.resource = resource_for(ref.api_version, ref.kind, writing);
  if (ref.name.empty()) invalid(fmt::format("a ref to a {} needs a name", ref.kind));
  target.name = ref.name;
  if (target.resource == nullptr) return target;
  if (target.resource->namespaced) {
    if (ref.ns.empty()) invalid(fmt::format("{} {}: a namespace is required ({} is namespaced)", ref.kind, ref.name, ref.kind));
    target.ns = ref.ns;
  }
  target.subject = RequestSubject{verb, ref.kind, target.ns, ref.name, target.resource->qualified(), ""};
  return target;
}

// The checks (and words) of the simulated store, so that both backends refuse the same objects.
KubeCluster::Target KubeCluster::target_of(Json& object, const char* verb) {
  if (!object.is_object()) invalid(fmt::format("an object must be a JSON object, got {}", object.type_name()));
  const std::string kind = string_member(object, "kind");
  const std::string name = string_member(metadata_of(object), "name");
  if (kind.empty()) invalid(fmt::format("object {}: kind is required", name));
  const std::string api_version = string_member(object, "apiVersion");
  if (api_version.empty()) invalid(fmt::format("{} {}: apiVersion is required", kind, name));
  if (name.empty()) invalid(fmt::format("{}: metadata.name is required", kind));
  Target target;
  target.resource = resource_for(api_version, kind, true);
  target.name = name;
  Json& metadata = object["metadata"];
  auto ns = metadata.find("namespace");
  if (ns != metadata.end() && !ns->is_string() && !ns->is_null()) {
    invalid(fmt::format("{} {}: metadata.namespace must be a string", kind, name));
  }
  if (!target.resource->namespaced) {
    if (ns != metadata.end()) metadata.erase(ns);
  } else {
    if (ns == metadata.end() || !ns->is_string() || ns->get_ref<const std::string&>().empty()) {
      invalid(fmt::format("{} {}: metadata.namespace is required ({} is namespaced)", kind, name, kind));
    }
    target.ns = ns->get<std::string>();
  }
  target.subject = RequestSubject{verb, kind, target.ns, name, target.resource->qualified(), ""};
  return target;
}

Json KubeCluster::kubeconfig() const { return kubeconfig_view(endpoint()); }

// Asked afresh each time: a control-plane upgrade (a vendor CLI, or a write to another cluster's
// Cluster API objects) changes it during a run, and a playbook checks that it did.
cluster::ServerVersion KubeCluster::version() const {
  auto* self = const_cast<KubeCluster*>(this);
  RequestSubject subject{"get", "", "", "", "", "/version"};
  HttpRequest request;
  request.target = "/version";
  Exchange exchange = self->call(std::move(request), SendRules{true}, subject);
  if (exchange.response.status == 404) throw decode_api_error(exchange.response, subject, http_.where());
  Json doc = parse(exchange.response, subject);
  std::string git_version = string_member(doc, "gitVersion");
  try {
    version_ = cluster::parse_server_version(git_version);
  } catch (const std::invalid_argument&) {
    throw ApiError(static_cast<int>(exchange.response.status), "",
                   fmt::format("{}: /version gives gitVersion \"{}\", which is not a Kubernetes version", http_.where(),
                               git_version));
  }
  return *version_;
}

bool KubeCluster::get(const ObjectRef& ref, const std::function<void(const Json&)>& visit) {
  Target target = target_of(ref, "get", false);
  if (target.resource == nullptr) return false;
  if (waits_ && waits_->active()) return waits_->get(*target.resource, target.ns, target.name, visit);
  HttpRequest request;
  request.target = target.resource->object_path(target.ns, target.name);
  Exchange exchange = call(std::move(request), SendRules{true}, target.subject);
  if (exchange.response.status == 404) return false;
  Json object = parse(exchange.response, target.subject);
  exchange.response.body = std::string();
  visit(object);
  return true;
}

Exchange KubeCluster::fetch_page(const std::string& target, bool first, const RequestSubject& subject,
                                 bool on_read_ahead) {
  HttpRequest request;
  request.target = target;
  Exchange exchange;
  try {
    exchange = on_read_ahead ? send(std::move(request), SendRules{true}, subject)
                             : call(std::move(request), SendRules{true}, subject);
  } catch (const ApiError& e) {
    if (e.status != 410 || first) throw;
    throw ApiError(410, e.reason,
                   fmt::format("list {}: the collection changed too much while refit read it page by page (the "
                               "server expired its continue token): run it again", describe_subject(subject)));
  }
  if (exchange.response.status == 404) throw decode_api_error(exchange.response, subject, http_.where());
  return exchange;
}

void KubeCluster::page_through(const ApiResource& resource, const std::string& ns, const std::string& labels,
                               const std::string& fields,
                               const std::function<std::string(HttpResponse&, const RequestSubject&)>& read,
                               const std::function<void()>& visit_read) {
  const RequestSubject subject{"list", resource.kind, ns, "", resource.qualified(), ""};
  const std::string first = fmt::format("{}?limit={}{}", resource.collection_path(ns), options_.list_page_size,
                                        selector_query(labels, fields));
  Exchange page = fetch_page(first, true, subject, false);
  for (;;) {
    const std::string next = read(page.response, subject);
    const std::string target = first + "&continue=" + url_encode(next);
    if (!visit_read) {
      if (next.empty()) return;
      page = fetch_page(target, false, subject, false);
      continue;
    }
    // The connection is this thread's again only once the read-ahead is collected: nothing here
    // touches it meanwhile (visit_read converts what `read` parsed), and finish_read_ahead() guards
    // every other way in.
    if (!next.empty()) {
      read_ahead_ = std::async(std::launch::async, [this, target, subject] {
        return fetch_page(target, false, subject, true);
      });
    }
    visit_read();
    if (next.empty()) return;
    std::future<Exchange> fetched = std::move(read_ahead_);
    page = fetched.get();  // rethrows the read-ahead's failure
  }
}

std::string KubeCluster::take_json_page(HttpResponse& page, const RequestSubject& subject, const ApiResource& resource,
                                        const std::function<void(Json&)>& take, std::string& version) const {
  Json doc = parse(page, subject);
  page.body = std::string();  // the page is parsed: its text is not needed while visiting
  const Json& metadata = metadata_of(doc);
  version = string_member(metadata, "resourceVersion");
  std::string next = string_member(metadata, "continue");
  auto items = doc.find("items");
  if (items == doc.end() || !items->is_array()) return next;
  // Lists leave apiVersion and kind out of their items; the playbook's objects have them.
  for (Json& item : *items) {
    item["apiVersion"] = resource.api_version;
    item["kind"] = resource.kind;
    take(item);
  }
  return next;
}

std::string KubeCluster::list_pages(const ApiResource& resource, const std::string& ns, const std::string& labels,
                                    const std::string& fields, const std::function<void(Json&)>& take) {
  std::string version;
  page_through(resource, ns, labels, fields, [&](HttpResponse& page, const RequestSubject& subject) {
    return take_json_page(page, subject, resource, take, version);
  });
  return version;
}

const ApiResource* KubeCluster::list_target(const ListQuery& query, std::string& ns) {
  if (query.kind.empty()) invalid("a list needs a kind");
  const ApiResource* resource = resource_for(query.api_version, query.kind, false);
  if (resource != nullptr && resource->namespaced) ns = query.ns;
  return resource;
}

void KubeCluster::list(const ListQuery& query, const std::function<void(const Json&)>& visit) {
  std::string ns;
  const ApiResource* resource = list_target(query, ns);
  if (resource == nullptr) return;
  if (waits_ && waits_->active()) {
    waits_->list(*resource, ns, query.label_selector, query.field_selector, visit);
    return;
  }
  list_pages(*resource, ns, query.label_selector, query.field_selector, [&](Json& item) { visit(item); });
}

void KubeCluster::list_items(const ListQuery& query, const std::function<void(const cluster::ListItem&)>& visit) {
  std::string ns;
  const ApiResource* resource = list_target(query, ns);
  if (resource == nullptr) return;
  auto visit_json = [&](const Json& object) { visit(cluster::ListItem{&object, nullptr, {}, {}}); };
  if (waits_ && waits_->active()) {
    waits_->list(*resource, ns, query.label_selector, query.field_selector, visit_json);
    return;
  }
  if (!page_parser_) page_parser_ = std::make_unique<simdjson::dom::parser>();
  // A page is parsed first (its continue token starts the next page's read-ahead), then its items are
  // handed over, unless simdjson refused it: then it was handed over as Json values at once.
  simdjson::dom::element doc;
  simdjson::dom::array items;
  bool parsed = false, has_items = false;
  auto read = [&](HttpResponse& page, const RequestSubject& subject) -> std::string {
    parsed = page_parser_->parse(page.body).get(doc) == simdjson::SUCCESS;
    has_items = parsed && doc["items"].get_array().get(items) == simdjson::SUCCESS;
    // Items that are not objects get nlohmann's treatment (an error), as in list(): check before
    // visiting any, so that the page is read one way only.
    if (has_items) {
      for (simdjson::dom::element item : items) parsed = parsed && item.is_object();
    }
    if (!parsed) {
      std::string version;
      return take_json_page(page, subject, *resource, [&](Json& item) { visit_json(item); }, version);
    }
    std::string_view next;
    if (doc["metadata"]["continue"].get(next) != simdjson::SUCCESS) next = {};
    return std::string(next);
  };
  auto visit_read = [&] {
    if (!parsed || !has_items) return;
    for (simdjson::dom::element item : items) {
      visit(cluster::ListItem{nullptr, &item, resource->api_version, resource->kind});
    }
  };
  page_through(*resource, ns, query.label_selector, query.field_selector, read, visit_read);
}

void KubeCluster::write(Target& target, HttpRequest request, const SendRules& rules, const StoredVisitor& stored) {
  Exchange exchange = call(std::move(request), rules, target.subject);
  if (exchange.response.status == 404) throw decode_api_error(exchange.response, target.subject, http_.where());
  Json object = parse(exchange.response, target.subject);
  exchange.response.body = std::string();
  if (target.resource->kind == "CustomResourceDefinition") discovery_.forget_misses();
  if (waits_ && waits_->active()) waits_->note_written(*target.resource, target.ns, target.name, &object);
  stored(object);
}

void KubeCluster::create(Json object, const StoredVisitor& stored) {
  Target target = target_of(object, "create");
  HttpRequest request{"POST", target.resource->collection_path(target.ns), "application/json", object.dump()};
  write(target, std::move(request), SendRules{false}, stored);
}

void KubeCluster::apply(Json object, const cluster::ApplyOptions& options, const StoredVisitor& stored) {
  Target target = target_of(object, "apply");
  // An object read from the server carries its managedFields, which an apply must not send.
  object["metadata"].erase("managedFields");
  std::string path = target.resource->object_path(target.ns, target.name) + "?fieldManager=refit";
  if (options.force) path += "&force=true";
  // Apply patches are YAML; JSON is YAML.
  HttpRequest request{"PATCH", std::move(path), "application/apply-patch+yaml", object.dump()};
  write(target, std::move(request), SendRules{true}, stored);
}

void KubeCluster::replace(Json object, const StoredVisitor& stored) {
  Target target = target_of(object, "replace");
  // Without a resourceVersion a repeated update could overwrite a change made in between.
  bool versioned = !string_member(metadata_of(object), "resourceVersion").empty();
  HttpRequest request{"PUT", target.resource->object_path(target.ns, target.name), "application/json", object.dump()};
  write(target, std::move(request), SendRules{versioned}, stored);
}

void KubeCluster::patch(const ObjectRef& ref, std::string_view content_type, const Json& body, bool idempotent,
                        const StoredVisitor& stored, const char* suffix) {
  Target target = target_of(ref, "patch", true);
  HttpRequest request{"PATCH", target.resource->object_path(target.ns, target.name) + suffix, content_type, body.dump()};
  write(target, std::move(request), SendRules{idempotent}, stored);
}

void KubeCluster::merge_patch(const ObjectRef& ref, const Json& patch_body, const StoredVisitor& stored) {
  patch(ref, "application/merge-patch+json", patch_body, true, stored);
}

void KubeCluster::json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) {
  // Operations such as "add to the end of a list" do something again each time they are sent.
  patch(ref, "application/json-patch+json", ops, false, stored);
}

void KubeCluster::strategic_patch(const ObjectRef& ref, const Json& patch_body, const StoredVisitor& stored) {
  patch(ref, "application/strategic-merge-patch+json", patch_body, true, stored);
}

void KubeCluster::patch_status(const ObjectRef& ref, const Json& status, const StoredVisitor& stored) {
  patch(ref, "application/merge-patch+json", Json{{"status", status}}, true, stored, "/status");
}

bool KubeCluster::remove(const ObjectRef& ref, const cluster::DeleteOptions& options) {
  Target target = target_of(ref, "delete", false);
  if (target.resource == nullptr) return false;
  HttpRequest request{"DELETE", target.resource->object_path(target.ns, target.name), "", ""};
  if (!options.propagation.empty()) request.target += "?propagationPolicy=" + url_encode(options.propagation);
  Exchange exchange = call(std::move(request), SendRules{true}, target.subject);
  // A 404 after an attempt that may have gone through: that attempt deleted it.
  bool deleted = exchange.response.status != 404 || exchange.earlier_attempt_may_have_acted;
  if (target.resource->kind == "CustomResourceDefinition") discovery_.forget_misses();
  if (waits_ && waits_->active() && exchange.response.status != 404) {
    // The answer is the object when it lingers (finalizers, graceful or foreground deletion), else a Status.
    Json answer = Json::parse(exchange.response.body, nullptr, false);
    bool lingers = answer.is_object() && string_member(answer, "kind") == target.resource->kind;
    waits_->note_written(*target.resource, target.ns, target.name, lingers ? &answer : nullptr);
  }
  return deleted;
}

void KubeCluster::evict(const ObjectRef& pod) {
  Target target = target_of(pod, "evict", true);
  // policy/v1 Evictions came with Kubernetes 1.22; older servers take policy/v1beta1 (which servers
  // keep until 1.25, so the version last read is good enough: a drain does not ask for each pod).
  cluster::ServerVersion server = version_ ? *version_ : version();
  int minor = std::atoi(server.minor.c_str());
  std::string api = server.major == "1" && minor < 22 ? "policy/v1beta1" : "policy/v1";
  Json eviction = {{"apiVersion", api}, {"kind", "Eviction"},
                   {"metadata", {{"name", target.name}, {"namespace", target.ns}}}};
  HttpRequest request{"POST", target.resource->object_path(target.ns, target.name) + "/eviction", "application/json",
                      eviction.dump()};
  SendRules rules{false, false};
  Exchange exchange = call(std::move(request), rules, target.subject);
  // The pod is not gone yet (it terminates gracefully): the wait's watch tells when it is.
  if (exchange.response.status == 404) throw decode_api_error(exchange.response, target.subject, http_.where());
}

void KubeCluster::wait_began() {
  finish_read_ahead();
  if (waits_) waits_->begin();
}

void KubeCluster::wait_ended() {
  if (waits_) waits_->end();
}

void KubeCluster::service_waits() {
  finish_read_ahead();
  if (waits_ && waits_->active()) waits_->service();
}

std::optional<std::int64_t> KubeCluster::next_wait_due_ms() const {
  if (waits_ && waits_->active()) return waits_->next_due_ms();
  return std::nullopt;
}

}  // namespace refit::kube
