#include "run/sim_state/secret_markers.hpp"

#include <algorithm>

#include "cluster/kube/base64.hpp"

namespace refit::run::simstate {

namespace {

constexpr std::string_view kPlain = "${refit-secret:";
constexpr std::string_view kBase64 = "${refit-secret-base64:";
constexpr std::string_view kMarkerStart = "${refit-secret";

// Applies `fn` to every string and every object key in `value`.
template <typename Fn>
void each_text(nlohmann::json& value, Fn&& fn) {
  if (value.is_string()) {
    fn(value.get_ref<std::string&>());
  } else if (value.is_array()) {
    for (auto& item : value) each_text(item, fn);
  } else if (value.is_object()) {
    nlohmann::json rebuilt = nlohmann::json::object();
    for (auto& [key, item] : value.items()) {
      std::string k = key;
      fn(k);
      each_text(item, fn);
      rebuilt[k] = std::move(item);
    }
    value = std::move(rebuilt);
  }
}

}  // namespace

SecretMarkers::SecretMarkers(const std::map<std::string, std::string>& values) {
  for (const auto& [name, value] : values) {
    if (value.empty()) continue;
    values_[name] = value;
    patterns_.push_back({value, std::string(kPlain) + name + "}"});
    patterns_.push_back({kube::encode_base64(value), std::string(kBase64) + name + "}"});
  }
  std::stable_sort(patterns_.begin(), patterns_.end(),
                   [](const Pattern& a, const Pattern& b) { return a.text.size() > b.text.size(); });
}

bool SecretMarkers::may_hold_marker(const std::string& text) { return text.find(kMarkerStart) != std::string::npos; }

std::string SecretMarkers::hide_text(const std::string& text) const {
  // One pass, so that a marker just written is never searched again.
  std::string out;
  std::size_t copied = 0;
  for (std::size_t at = 0; at < text.size();) {
    const Pattern* hit = nullptr;
    for (const auto& p : patterns_) {
      if (text.compare(at, p.text.size(), p.text) == 0) {
        hit = &p;
        break;
      }
    }
    if (hit == nullptr) {
      ++at;
      continue;
    }
    out.append(text, copied, at - copied);
    out += hit->marker;
    at += hit->text.size();
    copied = at;
  }
  out.append(text, copied, std::string::npos);
  return out;
}

void SecretMarkers::hide(nlohmann::json& value) const {
  if (patterns_.empty()) return;
  each_text(value, [this](std::string& text) {
    for (const auto& p : patterns_) {
      if (text.find(p.text) != std::string::npos) {
        text = hide_text(text);
        return;
      }
    }
  });
}

std::optional<std::string> SecretMarkers::reveal(nlohmann::json& value) const {
  std::optional<std::string> missing;
  nlohmann::json copy = value;
  each_text(copy, [&](std::string& text) {
    if (missing || text.find(kMarkerStart) == std::string::npos) return;
    std::string out;
    std::size_t copied = 0;
    for (std::size_t at = text.find(kMarkerStart); at != std::string::npos; at = text.find(kMarkerStart, at)) {
      bool base64 = text.compare(at, kBase64.size(), kBase64) == 0;
      bool plain = !base64 && text.compare(at, kPlain.size(), kPlain) == 0;
      std::size_t name_at = at + (base64 ? kBase64.size() : kPlain.size());
      std::size_t close = text.find('}', name_at);
      if ((!base64 && !plain) || close == std::string::npos) {
        at += kMarkerStart.size();
        continue;
      }
      std::string name = text.substr(name_at, close - name_at);
      auto found = values_.find(name);
      if (found == values_.end()) {
        missing = name;
        return;
      }
      out.append(text, copied, at - copied);
      out += base64 ? kube::encode_base64(found->second) : found->second;
      at = close + 1;
      copied = at;
    }
    out.append(text, copied, std::string::npos);
    text = std::move(out);
  });
  if (missing) return missing;
  value = std::move(copy);
  return std::nullopt;
}

}  // namespace refit::run::simstate
