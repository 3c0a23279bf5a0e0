// Kubernetes label and field selectors, with the API server's matching rules, so that the simulated
// world answers list queries exactly as a real cluster would.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace refit {

// A selector that cannot be parsed. The message quotes the selector and says what is wrong and where:
//   invalid label selector "app in (a,b", column 12: expected ',' or ')', found end of string
class SelectorError : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

struct LabelRequirement {
  enum class Op { Equals, NotEquals, In, NotIn, Exists, DoesNotExist };
  std::string key;
  Op op;
  std::vector<std::string> values;  // one for Equals/NotEquals, one or more for In/NotIn, none otherwise
};

// Requirements joined by AND. NotEquals and NotIn match objects that lack the label, as in Kubernetes.
class LabelSelector {
 public:
  LabelSelector() = default;  // matches everything

  // `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, joined by commas. Keys and values
  // are checked like Kubernetes label keys and values.
  static LabelSelector parse(std::string_view text);

  // A metav1.LabelSelector: {"matchLabels": {...}, "matchExpressions": [{key, operator, values}]}.
  // As in the API server, an empty object matches everything and null matches nothing (a
  // PodDisruptionBudget without a selector selects no pods).
  static LabelSelector from_json(const nlohmann::json& label_selector);

  // `labels` is an object's metadata.labels (null or absent labels are an empty set).
  bool matches(const nlohmann::json& labels) const;

  bool matches_everything() const { return !matches_nothing_ && requirements_.empty(); }
  bool matches_nothing() const { return matches_nothing_; }
  const std::vector<LabelRequirement>& requirements() const { return requirements_; }

  // The string form (`a=b,c in (x,y),!d`), which parse() reads back. A selector that matches nothing
  // has no string form: throws SelectorError.
  std::string to_string() const;

 private:
  std::vector<LabelRequirement> requirements_;
  bool matches_nothing_ = false;
};

struct FieldRequirement {
  std::string path;  // dotted JSON path: metadata.name, spec.nodeName, status.phase
  bool equals;       // `=` and `==` when true, `!=` when false
  std::string value;
};

// Requirements joined by AND. A missing field reads as the empty string (so `spec.nodeName=` selects
// unscheduled pods), booleans as true/false and numbers in their JSON form.
class FieldSelector {
 public:
  FieldSelector() = default;  // matches everything

  // `path=value`, `path==value`, `path!=value`, joined by commas; `\,` `\=` `\!` `\\` escape those
  // characters in values. Whitespace around paths and values is ignored.
  static FieldSelector parse(std::string_view text);

  bool matches(const nlohmann::json& object) const;

  // The value that `path` must equal, if an equality requirement names it: lets a store answer from
  // an index instead of scanning.
  std::optional<std::string_view> required_value(std::string_view path) const;

  bool matches_everything() const { return requirements_.empty(); }
  const std::vector<FieldRequirement>& requirements() const { return requirements_; }

 private:
  std::vector<FieldRequirement> requirements_;
};

// The value a field selector compares at `path` in `object` (see FieldSelector).
std::string field_value(const nlohmann::json& object, std::string_view path);

}  // namespace refit
