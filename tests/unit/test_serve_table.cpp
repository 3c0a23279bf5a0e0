// refit sim serve: the Tables of kubectl get's human-readable output (which Accept headers ask for
// one, the columns of Pods, Nodes, Deployments and other kinds, the row objects, kubectl's ages).
#include <catch2/catch.hpp>

#include "serve/table_view.hpp"

using refit::serve::human_duration;
using refit::serve::table_of;
using refit::serve::table_requested;
using refit::serve::TablePage;
using Json = nlohmann::json;

namespace {

constexpr std::int64_t kMinute = 60'000;

// The names and cells of a Table, one line per row ("Name,Ready,...|web-1,1/1,...").
std::string columns_and_cells(const Json& table) {
  std::string out;
  for (const Json& c : table["columnDefinitions"]) out += (out.empty() ? "" : ",") + c["name"].get<std::string>();
  for (const Json& row : table["rows"]) {
    out += "|";
    bool first = true;
    for (const Json& cell : row["cells"]) {
      out += (first ? "" : ",") + (cell.is_string() ? cell.get<std::string>() : cell.dump());
      first = false;
    }
  }
  return out;
}

}  // namespace

TEST_CASE("table: kubectl get's Accept asks for a Table; -o json and typed clients do not", "[serve][table]") {
  CHECK(table_requested("application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;"
                        "g=meta.k8s.io,application/json") == "meta.k8s.io/v1");
  CHECK(table_requested("application/json; as=Table; v=v1beta1; g=meta.k8s.io") == "meta.k8s.io/v1beta1");
  // A Table version the server does not know: the next media type decides.
  CHECK(table_requested("application/json;as=Table;v=v2;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io") ==
        "meta.k8s.io/v1");
  CHECK(table_requested("application/json") == std::nullopt);
  CHECK(table_requested("application/vnd.kubernetes.protobuf,application/json") == std::nullopt);
  CHECK(table_requested("application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json") ==
        std::nullopt);
  CHECK(table_requested("") == std::nullopt);
}

TEST_CASE("table: Pods show Ready, Status, Restarts and Age as kubectl prints them", "[serve][table]") {
  Json running = Json::parse(R"({"metadata":{"name":"web-1","namespace":"shop",
      "creationTimestamp":"2026-01-01T00:00:00Z","labels":{"app":"web"}},
    "spec":{"containers":[{"name":"nginx"},{"name":"proxy"}]},
    "status":{"phase":"Running","containerStatuses":[{"name":"nginx","ready":true,"restartCount":2},
                                                       {"name":"proxy","ready":true,"restartCount":1}]}})");
  Json waiting = Json::parse(R"({"metadata":{"name":"web-2","creationTimestamp":"2026-01-01T00:05:00Z"},
    "spec":{"containers":[{"name":"nginx"}]},
    "status":{"phase":"Pending","containerStatuses":[{"name":"nginx","ready":false,"restartCount":0,
                                                      "state":{"waiting":{"reason":"ImagePullBackOff"}}}]}})");
  Json deleted = Json::parse(R"({"metadata":{"name":"web-3","creationTimestamp":"2026-01-01T00:00:00Z",
      "deletionTimestamp":"2026-01-01T00:09:00Z"},"spec":{"containers":[{"name":"nginx"}]},
    "status":{"phase":"Running"}})");
  Json table = table_of("meta.k8s.io/v1", "Pod", {&running, &waiting, &deleted}, 10 * kMinute + 30'000, "",
                        TablePage{"42", "next-page", 7});
  CHECK(columns_and_cells(table) ==
        "Name,Ready,Status,Restarts,Age|web-1,2/2,Running,3,10m|web-2,0/1,ImagePullBackOff,0,5m30s|"
        "web-3,0/1,Terminating,0,10m");
  CHECK(table["kind"] == "Table");
  CHECK(table["apiVersion"] == "meta.k8s.io/v1");
  CHECK(table["metadata"] == Json::parse(R"({"resourceVersion":"42","continue":"next-page","remainingItemCount":7})"));
  CHECK(table["columnDefinitions"][0] ==
        Json::parse(R"({"name":"Name","type":"string","format":"name","priority":0,
                        "description":"Name must be unique within a namespace. Cannot be updated."})"));
  // By default each row carries the object's metadata, from which kubectl prints namespaces and labels.
  CHECK(table["rows"][0]["object"] ==
        Json::parse(R"({"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1",
                        "metadata":{"name":"web-1","namespace":"shop","creationTimestamp":"2026-01-01T00:00:00Z",
                                    "labels":{"app":"web"}}})"));
}

TEST_CASE("table: Nodes, Deployments, other kinds; includeObject", "[serve][table]") {
  Json worker = Json::parse(R"({"metadata":{"name":"ip-10-0-0-10","creationTimestamp":"2026-01-01T00:00:00Z",
      "labels":{"node-role.kubernetes.io/worker":"","node-role.kubernetes.io/ingress":"","kubernetes.io/os":"linux"}},
    "spec":{"unschedulable":true},
    "status":{"conditions":[{"type":"MemoryPressure","status":"False"},{"type":"Ready","status":"True"}],
              "nodeInfo":{"kubeletVersion":"v1.21.14-eks-ba74326"}}})");
  Json lost = Json::parse(R"({"metadata":{"name":"ip-10-0-0-11","creationTimestamp":"2026-01-01T00:00:00Z"},
    "status":{"conditions":[{"type":"Ready","status":"Unknown"}],"nodeInfo":{"kubeletVersion":"v1.20.15"}}})");
  const std::int64_t three_days = 3 * 24 * 60 * kMinute + 5 * 60 * kMinute;
  CHECK(columns_and_cells(table_of("meta.k8s.io/v1", "Node", {&worker, &lost}, three_days, "None", {})) ==
        "Name,Status,Roles,Age,Version|ip-10-0-0-10,Ready,SchedulingDisabled,ingress,worker,3d5h,v1.21.14-eks-ba74326|"
        "ip-10-0-0-11,NotReady,<none>,3d5h,v1.20.15");

  Json web = Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment",
    "metadata":{"name":"web","creationTimestamp":"2026-01-01T00:00:00Z"},"spec":{"replicas":3},
    "status":{"readyReplicas":2,"updatedReplicas":3,"availableReplicas":2}})");
  Json table = table_of("meta.k8s.io/v1beta1", "Deployment", {&web}, 90'000, "Object", {});
  CHECK(columns_and_cells(table) == "Name,Ready,Up-to-date,Available,Age|web,2/3,3,2,90s");
  CHECK(table["apiVersion"] == "meta.k8s.io/v1beta1");
  CHECK(table["rows"][0]["object"] == web);  // includeObject=Object: the whole object
  CHECK(table["metadata"] == Json::parse(R"({"resourceVersion":""})"));

  Json settings = Json::parse(R"({"metadata":{"name":"settings","creationTimestamp":"2026-01-01T00:00:00Z"}})");
  Json none = table_of("meta.k8s.io/v1", "ConfigMap", {&settings}, 0, "None", {});
  CHECK(columns_and_cells(none) == "Name,Age|settings,0s");
  CHECK_FALSE(none["rows"][0].contains("object"));  // includeObject=None
}

TEST_CASE("table: ages as kubectl's HumanDuration writes them", "[serve][table]") {
  const std::int64_t s = 1000, m = 60 * s, h = 60 * m, d = 24 * h;
  CHECK(human_duration(-3 * s) == "<invalid>");
  CHECK(human_duration(-1 * s) == "0s");
  CHECK(human_duration(119 * s) == "119s");
  CHECK(human_duration(2 * m) == "2m");
  CHECK(human_duration(9 * m + 59 * s) == "9m59s");
  CHECK(human_duration(179 * m) == "179m");
  CHECK(human_duration(3 * h) == "3h");
  CHECK(human_duration(7 * h + 30 * m) == "7h30m");
  CHECK(human_duration(47 * h) == "47h");
  CHECK(human_duration(2 * d) == "2d");
  CHECK(human_duration(7 * d + 23 * h) == "7d23h");
  CHECK(human_duration(400 * d) == "400d");
  CHECK(human_duration(730 * d) == "2y");
  CHECK(human_duration(3 * 365 * d + 10 * d) == "3y10d");
  CHECK(human_duration(9 * 365 * d) == "9y");
}
