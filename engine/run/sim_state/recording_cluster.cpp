#include "run/sim_state/recording_cluster.hpp"

#include "run/sim_state/records.hpp"

namespace refit::run::simstate {

namespace {

using Json = cluster::Json;

Json write_record(const char* verb, const std::string& cluster) { return {{"write", verb}, {"cluster", cluster}}; }

Json ref_write(const char* verb, const std::string& cluster, const cluster::ObjectRef& ref) {
  Json record = write_record(verb, cluster);
  record["ref"] = records::ref_json(ref);
  return record;
}

}  // namespace

template <typename Write>
void RecordingCluster::recorded(Json record, const StoredVisitor& stored, Write&& write) {
  recorder_.check_usable();
  // The store has changed once the visitor is called: whatever the caller's visitor throws after
  // that, the write happened and is kept as one that succeeded.
  bool written = false;
  auto keep_rv = [&](const Json& object) {
    written = true;
    const Json* rv = nullptr;
    if (auto md = object.find("metadata"); md != object.end() && md->is_object()) {
      if (auto it = md->find("resourceVersion"); it != md->end() && it->is_string()) rv = &*it;
    }
    if (rv != nullptr) record["rv"] = *rv;
    if (stored) stored(object);
  };
  try {
    write(keep_rv);
  } catch (const std::exception& e) {
    if (!written) record["error"] = records::error_json(e);
    recorder_.keep(std::move(record));
    throw;
  }
  recorder_.keep(std::move(record));
}

void RecordingCluster::create(Json object, const StoredVisitor& stored) {
  Json record = write_record("create", name());
  record["object"] = object;
  recorded(std::move(record), stored, [&](const StoredVisitor& visit) { inner().create(std::move(object), visit); });
}

void RecordingCluster::apply(Json object, const cluster::ApplyOptions& options, const StoredVisitor& stored) {
  Json record = write_record("apply", name());
  record["object"] = object;
  if (options.force) record["force"] = true;
  recorded(std::move(record), stored,
           [&](const StoredVisitor& visit) { inner().apply(std::move(object), options, visit); });
}

void RecordingCluster::replace(Json object, const StoredVisitor& stored) {
  Json record = write_record("replace", name());
  record["object"] = object;
  recorded(std::move(record), stored, [&](const StoredVisitor& visit) { inner().replace(std::move(object), visit); });
}

void RecordingCluster::merge_patch(const cluster::ObjectRef& ref, const Json& patch, const StoredVisitor& stored) {
  Json record = ref_write("merge_patch", name(), ref);
  record["patch"] = patch;
  recorded(std::move(record), stored, [&](const StoredVisitor& visit) { inner().merge_patch(ref, patch, visit); });
}

void RecordingCluster::json_patch(const cluster::ObjectRef& ref, const Json& ops, const StoredVisitor& stored) {
  Json record = ref_write("json_patch", name(), ref);
  record["patch"] = ops;
  recorded(std::move(record), stored, [&](const StoredVisitor& visit) { inner().json_patch(ref, ops, visit); });
}

void RecordingCluster::strategic_patch(const cluster::ObjectRef& ref, const Json& patch, const StoredVisitor& stored) {
  Json record = ref_write("strategic_patch", name(), ref);
  record["patch"] = patch;
  recorded(std::move(record), stored, [&](const StoredVisitor& visit) { inner().strategic_patch(ref, patch, visit); });
}

void RecordingCluster::patch_status(const cluster::ObjectRef& ref, const Json& patch, const StoredVisitor& stored) {
  Json record = ref_write("patch_status", name(), ref);
  record["patch"] = patch;
  recorded(std::move(record), stored, [&](const StoredVisitor& visit) { inner().patch_status(ref, patch, visit); });
}

bool RecordingCluster::remove(const cluster::ObjectRef& ref, const cluster::DeleteOptions& options) {
  recorder_.check_usable();
  Json record = ref_write("remove", name(), ref);
  if (!options.propagation.empty()) record["propagation"] = options.propagation;
  bool found = false;
  try {
    found = inner().remove(ref, options);
  } catch (const std::exception& e) {
    record["error"] = records::error_json(e);
    recorder_.keep(std::move(record));
    throw;
  }
  if (!found) record["found"] = false;
  recorder_.keep(std::move(record));
  return found;
}

void RecordingCluster::evict(const cluster::ObjectRef& pod) {
  recorder_.check_usable();
  Json record = ref_write("evict", name(), pod);
  try {
    inner().evict(pod);
  } catch (const std::exception& e) {
    record["error"] = records::error_json(e);
    recorder_.keep(std::move(record));
    throw;
  }
  recorder_.keep(std::move(record));
}

}  // namespace refit::run::simstate
