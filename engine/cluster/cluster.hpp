// The Cluster interface: what playbooks can read and change in one Kubernetes cluster. It has two
// implementations: the simulated cluster (sim/) and, later, the Kubernetes API backend (kube/).
#pragma once
#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "cluster/sim/object_store.hpp"

namespace refit::cluster {

using Json = nlohmann::json;
using sim::ListQuery;
using sim::ObjectRef;

struct ServerVersion {
  std::string major;        // "1"
  std::string minor;        // "21"
  std::string git_version;  // "v1.21.14-eks-18ef993"
};

// Parses "v1.21.14-eks-18ef993" (or "1.21") into a ServerVersion; throws on anything else.
ServerVersion parse_server_version(const std::string& git_version);

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual const std::string& name() const = 0;
  virtual ServerVersion version() const = 0;
  // Calls `visit` with the object and returns true, or returns false when it does not exist.
  virtual bool get(const ObjectRef& ref, const std::function<void(const Json&)>& visit) = 0;
  virtual void list(const ListQuery& query, const std::function<void(const Json&)>& visit) = 0;
  // Writes call `stored` with the object as the server stored it (valid during the call only): a
  // caller that needs a field or two reads them there, instead of every write copying the object.
  using StoredVisitor = std::function<void(const Json&)>;
  virtual void create(Json object, const StoredVisitor& stored) = 0;
  virtual void apply(Json object, const StoredVisitor& stored) = 0;
  virtual void merge_patch(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) = 0;
  virtual void json_patch(const ObjectRef& ref, const Json& ops, const StoredVisitor& stored) = 0;
  virtual void patch_status(const ObjectRef& ref, const Json& patch, const StoredVisitor& stored) = 0;
  // Returns false when the object does not exist.
  virtual bool remove(const ObjectRef& ref) = 0;
};

}  // namespace refit::cluster
