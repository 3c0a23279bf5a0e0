#include "run/sim_state/records.hpp"

#include <fmt/format.h>

#include <stdexcept>

#include "exec/executor.hpp"
#include "report/duration_text.hpp"

namespace refit::run::simstate::records {

Json ref_json(const cluster::ObjectRef& ref) {
  Json out = Json::object();
  if (!ref.api_version.empty()) out["apiVersion"] = ref.api_version;
  out["kind"] = ref.kind;
  if (!ref.ns.empty()) out["namespace"] = ref.ns;
  out["name"] = ref.name;
  return out;
}

cluster::ObjectRef ref_from(const Json& value) {
  if (!value.is_object() || !value.contains("kind") || !value.contains("name")) {
    throw std::invalid_argument("\"ref\" is not an object reference (kind, name)");
  }
  cluster::ObjectRef ref;
  ref.api_version = value.value("apiVersion", std::string());
  ref.kind = value.at("kind").get<std::string>();
  ref.ns = value.value("namespace", std::string());
  ref.name = value.at("name").get<std::string>();
  return ref;
}

Json error_json(const std::exception& e) {
  if (const auto* api = dynamic_cast<const cluster::ApiError*>(&e)) {
    return {{"status", api->status}, {"reason", api->reason}, {"message", api->what()}};
  }
  return {{"message", e.what()}};
}

Json outcome_of(const Json& record) {
  Json out = Json::object();
  for (const char* key : {"rv", "found", "code", "error"}) {
    auto it = record.find(key);
    if (it != record.end()) out[key] = *it;
  }
  return out;
}

bool same_outcome(const Json& recorded, const Json& now) {
  auto without_message = [](Json outcome) {
    if (auto it = outcome.find("error"); it != outcome.end() && it->is_object()) it->erase("message");
    return outcome;
  };
  return without_message(recorded) == without_message(now);
}

namespace {

std::string ref_text(const Json& ref) {
  if (!ref.is_object()) return "?";
  std::string ns = ref.value("namespace", std::string());
  std::string name = ref.value("name", std::string());
  return fmt::format("{} {}", ref.value("kind", std::string("?")), ns.empty() ? name : ns + "/" + name);
}

}  // namespace

std::string describe(const Json& record) {
  if (auto write = record.find("write"); write != record.end() && write->is_string()) {
    std::string target;
    if (auto object = record.find("object"); object != record.end() && object->is_object()) {
      Json ref = {{"kind", object->value("kind", std::string("?"))}};
      if (auto md = object->find("metadata"); md != object->end() && md->is_object()) {
        ref["namespace"] = md->value("namespace", std::string());
        ref["name"] = md->value("name", std::string());
      }
      target = ref_text(ref);
    } else {
      target = ref_text(record.value("ref", Json()));
    }
    return fmt::format("{} {} in cluster {}", write->get<std::string>(), target,
                       record.value("cluster", std::string("?")));
  }
  if (auto argv = record.find("exec"); argv != record.end() && argv->is_array()) {
    std::vector<std::string> words;
    for (const auto& w : *argv) words.push_back(w.is_string() ? w.get<std::string>() : w.dump());
    return "command " + exec::display_command(words);
  }
  if (auto to = record.find("advance"); to != record.end() && to->is_number_integer()) {
    return "the clock's advance to " + report::duration_text(to->get<std::int64_t>());
  }
  return "an input of an unknown kind";
}

std::string describe_outcome(const Json& outcome) {
  if (auto error = outcome.find("error"); error != outcome.end() && error->is_object()) {
    std::string message = error->value("message", std::string());
    if (error->contains("status")) {
      return fmt::format("failed: {} {}: {}", error->value("status", 0), error->value("reason", std::string()),
                         message);
    }
    return "failed: " + message;
  }
  if (auto code = outcome.find("code"); code != outcome.end()) return fmt::format("exited {}", code->dump());
  if (auto found = outcome.find("found"); found != outcome.end() && found->is_boolean() && !found->get<bool>()) {
    return "found nothing to delete";
  }
  if (auto rv = outcome.find("rv"); rv != outcome.end() && rv->is_string()) {
    return fmt::format("succeeded (resourceVersion {})", rv->get<std::string>());
  }
  return "succeeded";
}

}  // namespace refit::run::simstate::records
