// POST (create), PUT (update), PATCH (merge, JSON, strategic and server-side apply) and DELETE of
// objects and collections. Every write goes through the simulated cluster, then lets the models react
// at the current virtual time (as in-process), unless it is a dry run.
#include <mutex>
#include <random>

#include <fmt/format.h>

#include "cluster/selectors.hpp"
#include "serve/api_request.hpp"
#include "serve/json_writer.hpp"
#include "serve/request_body.hpp"

namespace refit::serve {
namespace {

// The API server's generateName suffix: five characters that cannot spell words.
std::string generated_suffix() {
  static constexpr std::string_view kAlphabet = "bcdfghjklmnpqrstvwxz2456789";
  static std::mt19937 random{std::random_device{}()};
  std::string suffix;
  for (int i = 0; i < 5; ++i) suffix.push_back(kAlphabet[random() % kAlphabet.size()]);
  return suffix;
}

// Runs a write of the simulated cluster, in dry-run mode when asked, mapping its errors to the API
// server's for `name`; then lets the world react.
template <typename Write>
void write_through(const ApiRequest& request, std::string_view name, bool dry_run, Write&& write) {
  try {
    DryRunScope scope(request.cluster, dry_run);
    write();
  } catch (const cluster::ApiError& e) {
    throw status_of(e, request.subject(name));
  } catch (const sim::StoreError& e) {
    throw status_of(sim::api_error_of(e), request.subject(name));
  }
  if (!dry_run) request.world.settle();
}

std::string propagation_policy(const ApiRequest& request, const Json& options) {
  std::string policy = request.query("propagationPolicy");
  if (auto it = options.find("propagationPolicy"); it != options.end() && it->is_string()) policy = it->get<std::string>();
  if (!policy.empty() && policy != "Orphan" && policy != "Background" && policy != "Foreground") {
    throw bad_request(fmt::format("propagationPolicy: Unsupported value: \"{}\": supported values: \"Foreground\", "
                                  "\"Background\", \"Orphan\"", policy));
  }
  return policy;
}

bool options_dry_run(const Json& options) {
  auto it = options.find("dryRun");
  if (it == options.end() || !it->is_array()) return false;
  for (const Json& value : *it) {
    if (value != "All") throw bad_request(fmt::format("dryRun: Unsupported value: {}: supported values: \"All\"", value.dump()));
  }
  return !it->empty();
}

// DeleteOptions.preconditions: the object must still be the one the client saw.
void check_preconditions(const Json& options, const Json& object) {
  auto preconditions = options.find("preconditions");
  if (preconditions == options.end() || !preconditions->is_object()) return;
  const Json& metadata = object.at("metadata");
  for (const auto& [field, label] : {std::pair{"uid", "UID"}, std::pair{"resourceVersion", "ResourceVersion"}}) {
    auto wanted = preconditions->find(field);
    if (wanted == preconditions->end() || !wanted->is_string()) continue;
    std::string actual = metadata.value(field, std::string());
    if (*wanted != actual) {
      throw StatusError(409, "Conflict",
                        fmt::format("Precondition failed: {} in precondition: {}, {} in object meta: {}", label,
                                    wanted->get<std::string>(), label, actual));
    }
  }
}

// A Secret a client writes back as it read it (kubectl edit, apply of a `get -o yaml`) keeps the
// kubeconfigs the world holds, not their served form (served_secrets.hpp). `body` is the written
// object or merge patch (its data and stringData), or a JSON patch (the values its operations write).
void restore_served_secret(const ApiRequest& request, std::string_view name, Json& body, bool json_patch) {
  if (request.resource.kind != "Secret" || !request.resource.group.empty()) return;
  if (!body.is_object() && !body.is_array()) return;
  const ServedSecrets& secrets = *request.world.secrets();
  Json stored = Json::object();
  if (!name.empty()) request.cluster.get(request.ref(name), [&](const Json& object) { stored = object; });
  auto stored_map = [&stored](const std::string& field) -> const Json* {
    auto it = stored.find(field);
    return it != stored.end() && it->is_object() ? &*it : nullptr;
  };
  if (!json_patch) {
    for (const char* field : {"data", "stringData"}) {
      auto values = body.find(field);
      if (values != body.end()) secrets.restore(*values, stored_map(field), field == std::string_view("data"));
    }
    return;
  }
  for (Json& operation : body) {
    if (!operation.is_object() || !operation.contains("path") || !operation["path"].is_string() ||
        !operation.contains("value")) {
      continue;
    }
    std::string path = operation["path"].get<std::string>();
    for (const char* field : {"data", "stringData"}) {
      std::string prefix = fmt::format("/{}", field);
      bool base64 = field == std::string_view("data");
      if (path == prefix) {
        secrets.restore(operation["value"], stored_map(field), base64);
      } else if (path.rfind(prefix + "/", 0) == 0) {
        std::string key = path.substr(prefix.size() + 1);  // a JSON pointer token: ~1 is '/', ~0 is '~'
        for (std::size_t at = 0; (at = key.find("~1", at)) != std::string::npos; ++at) key.replace(at, 2, "/");
        for (std::size_t at = 0; (at = key.find("~0", at)) != std::string::npos; ++at) key.replace(at, 2, "~");
        Json one = {{key, operation["value"]}};
        secrets.restore(one, stored_map(field), base64);
        operation["value"] = one[key];
      }
    }
  }
}

}  // namespace

void handle_create(const ApiRequest& request) {
  if (request.resource.namespaced && request.path.ns.empty()) throw method_not_allowed();
  bool dry_run = request.dry_run();
  Json object = request.body();
  fit_to_request(object, request, "");
  std::string name = name_of(object);
  if (name.empty()) {
    std::string prefix = object["metadata"].value("generateName", std::string());
    if (prefix.empty()) {
      throw invalid(request.subject(""), "metadata.name: Required value: name or generateName is required");
    }
    sim::ObjectRef ref = request.ref("");
    do {
      ref.name = prefix + generated_suffix();
    } while (request.cluster.get(ref, [](const Json&) {}));
    name = ref.name;
    object["metadata"]["name"] = name;
  }
  require_namespace(request, request.path.ns);
  restore_served_secret(request, name, object, false);
  std::string body;
  write_through(request, name, dry_run, [&] {
    request.cluster.create(std::move(object), [&](const Json& stored) {
      body = request.world.served_json(stored, request.resource.api_version);
    });
  });
  respond_json(request.response, 201, std::move(body));
}

void handle_update(const ApiRequest& request) {
  bool dry_run = request.dry_run();
  Json object = request.body();
  fit_to_request(object, request, request.path.name);
  restore_served_secret(request, request.path.name, object, false);
  std::string body;
  write_through(request, request.path.name, dry_run, [&] {
    request.cluster.replace(std::move(object), [&](const Json& stored) {
      body = request.world.served_json(stored, request.resource.api_version);
    });
  });
  respond_json(request.response, 200, std::move(body));
}

void handle_patch(const ApiRequest& request) {
  bool dry_run = request.dry_run();
  std::string type = request.media_type();
  sim::ObjectRef ref = request.ref();
  std::string body;
  auto stored = [&](const Json& object) { body = request.world.served_json(object, request.resource.api_version); };
  int code = 200;
  if (type == "application/apply-patch+yaml") {
    // Server-side apply: creates the object when it does not exist. The simulated world merges
    // what is applied and does not track field managers, so there are no conflicts to force.
    if (request.query("fieldManager").empty()) {
      throw bad_request("fieldManager: Required value: is required for apply patch");
    }
    cluster::ApplyOptions options{request.flag("force")};
    Json object = request.body();
    fit_to_request(object, request, request.path.name);
    restore_served_secret(request, request.path.name, object, false);
    if (!request.cluster.get(ref, [](const Json&) {})) {
      require_namespace(request, request.path.ns);
      code = 201;
    }
    write_through(request, request.path.name, dry_run, [&] { request.cluster.apply(std::move(object), options, stored); });
  } else if (type == "application/merge-patch+json") {
    Json patch = request.body();
    restore_served_secret(request, request.path.name, patch, false);
    write_through(request, request.path.name, dry_run, [&] { request.cluster.merge_patch(ref, patch, stored); });
  } else if (type == "application/json-patch+json") {
    Json patch = request.body();
    restore_served_secret(request, request.path.name, patch, true);
    write_through(request, request.path.name, dry_run, [&] { request.cluster.json_patch(ref, patch, stored); });
  } else if (type == "application/strategic-merge-patch+json" && !request.resource.custom) {
    Json patch = request.body();
    restore_served_secret(request, request.path.name, patch, false);
    write_through(request, request.path.name, dry_run, [&] { request.cluster.strategic_patch(ref, patch, stored); });
  } else {
    throw unsupported_patch_type(request);
  }
  respond_json(request.response, code, std::move(body));
}

// The answer is the object as it was: the simulated world deletes at once (no graceful period, no
// finalizers), so the last state is what the API server would return.
void handle_delete(const ApiRequest& request) {
  Json options = request.http.body.empty() ? Json::object() : request.body();
  if (!options.is_object()) throw bad_request("the request body must be a DeleteOptions object");
  bool dry_run = request.dry_run() || options_dry_run(options);
  cluster::DeleteOptions delete_options{propagation_policy(request, options)};
  sim::ObjectRef ref = request.ref();
  std::string body;
  bool found = request.cluster.get(ref, [&](const Json& object) {
    check_preconditions(options, object);
    body = request.world.served_json(object, request.resource.api_version);
  });
  if (!found) throw not_found(request.subject());
  if (!dry_run) write_through(request, request.path.name, false, [&] { request.cluster.remove(ref, delete_options); });
  respond_json(request.response, 200, std::move(body));
}

void handle_delete_collection(const ApiRequest& request) {
  Json options = request.http.body.empty() ? Json::object() : request.body();
  if (!options.is_object()) throw bad_request("the request body must be a DeleteOptions object");
  bool dry_run = request.dry_run() || options_dry_run(options);
  cluster::DeleteOptions delete_options{propagation_policy(request, options)};
  const ResourceInfo& resource = request.resource;
  sim::ListQuery query{resource.api_version, resource.kind, resource.namespaced ? request.path.ns : std::string(),
                       request.query("labelSelector"), request.query("fieldSelector")};
  std::vector<sim::ObjectRef> doomed;
  std::string items;
  {
    JsonWriter writer(items);
    try {
      request.cluster.list(query, [&](const Json& object) {
        if (!doomed.empty()) writer.raw(",");
        auto served = request.world.secrets()->served(object);
        writer.object(served ? *served : object, resource.api_version, resource.custom);
        doomed.push_back(sim::ObjectRef{resource.api_version, resource.kind, namespace_of(object), name_of(object)});
      });
    } catch (const SelectorError& e) {
      throw bad_request(e.what());
    }
  }
  // One settle for the whole collection: an object gone already (a model removed it with another,
  // as pods go with their node) is simply not there to remove.
  if (!dry_run) {
    write_through(request, "", false, [&] {
      for (const sim::ObjectRef& ref : doomed) request.cluster.remove(ref, delete_options);
    });
  }
  std::string body = fmt::format("{{\"kind\":\"{}List\",\"apiVersion\":\"{}\",\"metadata\":{{\"resourceVersion\":\"{}\"}},"
                                 "\"items\":[{}]}}",
                                 resource.kind, resource.api_version, request.cluster.store().resource_version(), items);
  respond_json(request.response, 200, std::move(body));
}

}  // namespace refit::serve
