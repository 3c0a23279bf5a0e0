#include "cluster/sim/sim_cluster.hpp"

namespace refit::sim {

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
void SimCluster::create(Json object, const StoredVisitor& stored) { stored(store_.create(std::move(object))); }
void SimCluster::apply(Json object, const StoredVisitor& stored) { stored(store_.apply(std::move(object))); }
void SimCluster::merge_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) {
  stored(store_.merge_patch(ref, patch));
}
void SimCluster::json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) {
  stored(store_.json_patch(ref, ops));
}
void SimCluster::patch_status(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) {
  stored(store_.patch_status(ref, patch));
}

bool SimCluster::remove(const ObjectRef& ref) {
  if (store_.get(ref) == nullptr) return false;
  store_.remove(ref);
  return true;
}

}  // namespace refit::sim
