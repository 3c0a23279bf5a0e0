#include "cluster/sim/sim_cluster.hpp"

namespace refit::sim {

cluster::ApiError api_error_of(const StoreError& e) {
  switch (e.code) {
    case StoreError::Code::NotFound: return {404, "NotFound", e.what()};
    case StoreError::Code::AlreadyExists: return {409, "AlreadyExists", e.what()};
    case StoreError::Code::Conflict: return {409, "Conflict", e.what()};
    case StoreError::Code::Invalid: break;
  }
  return {422, "Invalid", e.what()};
}

namespace {

// Runs a store operation, turning its errors into the API server's.
template <typename Op>
auto as_api(Op&& op) -> decltype(op()) {
  try {
    return op();
  } catch (const StoreError& e) {
    throw api_error_of(e);
  }
}

}  // namespace

SimCluster::SimCluster(std::string name, std::string git_version, std::function<std::int64_t()> now_ms)
    : name_(std::move(name)), version_(cluster::parse_server_version(git_version)), store_(std::move(now_ms)) {}

cluster::ServerVersion SimCluster::version() const { return version_; }

void SimCluster::set_version(const std::string& git_version) {
  version_ = cluster::parse_server_version(git_version);
}

bool SimCluster::get(const ObjectRef& ref, const std::function<void(const Json&)>& visit) {
  const Json* obj = store_.get(ref);
  if (obj == nullptr) return false;
  visit(*obj);
  return true;
}

void SimCluster::list(const ListQuery& query, const std::function<void(const Json&)>& visit) {
  store_.list(query, visit);
}

// The store's references stay valid until that object is written again: the visitor reads them
// before anything else can write.
void SimCluster::create(Json object, const StoredVisitor& stored) {
  stored(as_api([&]() -> const Json& { return store_.create(std::move(object)); }));
}

// The simulated apply merges whatever it is given; `force` has nothing to take over, because the
// simulated world does not track field managers.
void SimCluster::apply(Json object, const cluster::ApplyOptions&, const StoredVisitor& stored) {
  stored(as_api([&]() -> const Json& { return store_.apply(std::move(object)); }));
}

void SimCluster::replace(Json object, const StoredVisitor& stored) {
  stored(as_api([&]() -> const Json& { return store_.replace(std::move(object)); }));
}

void SimCluster::merge_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) {
  stored(as_api([&]() -> const Json& { return store_.merge_patch(ref, patch); }));
}

void SimCluster::json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) {
  stored(as_api([&]() -> const Json& { return store_.json_patch(ref, ops); }));
}

// The store's apply already merges as a strategic-merge patch does (maps recursively, null deletes,
// lists of named items by name). A patch never creates, and never changes the stored apiVersion.
void SimCluster::strategic_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) {
  stored(as_api([&]() -> const Json& {
    const Json* current = store_.get(ref);
    if (current == nullptr) {
      std::string where = ref.ns.empty() ? ref.name : ref.ns + "/" + ref.name;
      throw StoreError(StoreError::Code::NotFound, ref.kind + " " + where + " not found");
    }
    if (!patch.is_object()) throw StoreError(StoreError::Code::Invalid, "a strategic-merge patch is a JSON object");
    Json object = patch;
    object["apiVersion"] = (*current)["apiVersion"];
    object["kind"] = (*current)["kind"];
    Json& metadata = object["metadata"];
    if (!metadata.is_object()) metadata = Json::object();
    metadata["name"] = (*current)["metadata"]["name"];
    if (auto ns = (*current)["metadata"].find("namespace"); ns != (*current)["metadata"].end()) metadata["namespace"] = *ns;
    return store_.apply(std::move(object));
  }));
}

void SimCluster::patch_status(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) {
  stored(as_api([&]() -> const Json& { return store_.patch_status(ref, patch); }));
}

// Propagation is not modelled: dependents are the models' business (their controllers see the
// deletion), so every policy deletes the object at once.
bool SimCluster::remove(const ObjectRef& ref, const cluster::DeleteOptions&) {
  return as_api([&] {
    if (store_.get(ref) == nullptr) return false;
    store_.remove(ref);
    return true;
  });
}

void SimCluster::evict(const ObjectRef& pod) {
  if (evictor_) {
    evictor_(*this, pod);
    return;
  }
  as_api([&] { store_.remove(pod); });
}

}  // namespace refit::sim
