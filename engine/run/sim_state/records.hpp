// The inputs a kept simulated world's file holds after its header, one JSON object per line:
//
//   {"write":"create"|"apply"|"replace", "cluster":C, "object":{...} [, "force":true]}
//   {"write":"merge_patch"|"json_patch"|"strategic_patch"|"patch_status", "cluster":C, "ref":R, "patch":P}
//   {"write":"remove", "cluster":C, "ref":R [, "propagation":"Foreground"|...]}
//   {"write":"evict", "cluster":C, "ref":R}
//   {"exec":[argv...], "mutates":B [, "timeout":MS]}
//   {"advance":T}                                    (the virtual clock let run to T, in ms)
//
// each with its outcome: "rv" (the resourceVersion a write stored), "found":false (a delete of
// nothing), "code" (a command's exit code), or "error":{"status","reason","message"} (it failed).
// R is {"apiVersion","kind","namespace","name"} without the empty ones. Reads are not inputs: they
// change nothing.
#pragma once
#include <exception>
#include <nlohmann/json.hpp>
#include <string>

#include "cluster/cluster.hpp"

namespace refit::run::simstate::records {

using Json = nlohmann::json;

Json ref_json(const cluster::ObjectRef& ref);
// Throws std::invalid_argument when `value` is not a ref.
cluster::ObjectRef ref_from(const Json& value);

// {"status","reason","message"} of an ApiError, {"message"} of anything else.
Json error_json(const std::exception& e);

// The outcome fields of a record (rv, found, code, error), to compare a replay with.
Json outcome_of(const Json& record);
// Whether two outcomes agree. Error messages are not compared (they may hold paths that differ
// between machines); their status and reason are.
bool same_outcome(const Json& recorded, const Json& now);

// In a person's words: "create ConfigMap kube-system/settings in cluster demo", "command aws eks
// update-cluster-version ...", "the clock's advance to 1h 2m".
std::string describe(const Json& record);
// "succeeded (resourceVersion 42)", "exited 0", "failed: 409 Conflict: ...".
std::string describe_outcome(const Json& outcome);

}  // namespace refit::run::simstate::records
