#include "cluster/kube/api_errors.hpp"

#include <fmt/format.h>

#include "data/json_fields.hpp"

namespace refit::kube {

using data::string_member;

namespace {

using cluster::ApiError;
using cluster::Json;

std::string_view default_reason(long status) {
  switch (status) {
    case 400: return "BadRequest";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "NotFound";
    case 405: return "MethodNotAllowed";
    case 406: return "NotAcceptable";
    case 409: return "Conflict";
    case 410: return "Expired";
    case 413: return "RequestEntityTooLarge";
    case 415: return "UnsupportedMediaType";
    case 422: return "Invalid";
    case 429: return "TooManyRequests";
    case 500: return "InternalError";
    case 503: return "ServiceUnavailable";
    case 504: return "Timeout";
    default: return "";
  }
}

// What a Status body says.
struct StatusBody {
  bool is_status = false;
  std::string message, reason;
  std::vector<std::pair<std::string, std::string>> causes;  // field, message
};

StatusBody read_status(const std::string& body) {
  StatusBody out;
  Json doc = Json::parse(body, nullptr, false);
  if (!doc.is_object() || string_member(doc, "kind") != "Status") return out;
  out.is_status = true;
  out.message = string_member(doc, "message");
  out.reason = string_member(doc, "reason");
  auto details = doc.find("details");
  if (details != doc.end() && details->is_object()) {
    auto causes = details->find("causes");
    if (causes != details->end() && causes->is_array()) {
      for (const Json& cause : *causes) {
        if (cause.is_object()) out.causes.emplace_back(string_member(cause, "field"), string_member(cause, "message"));
      }
    }
  }
  return out;
}

// A body that is no Status (a proxy's HTML page, say): its start, on one line.
std::string excerpt(std::string_view body) {
  std::string out;
  bool space = false;
  for (char c : body) {
    if (out.size() >= 200) {
      out += "...";
      break;
    }
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

std::string attempts_note(int attempts) { return attempts > 1 ? fmt::format(" (after {} attempts)", attempts) : ""; }

// "{subject}: {message}", unless the message already begins with the subject (the simulated world's
// messages do).
std::string about(const std::string& subject, const std::string& message) {
  if (message.empty()) return subject;
  if (starts_with(message, subject)) return message;
  return subject + ": " + message;
}

}  // namespace

std::string describe_subject(const RequestSubject& s) {
  if (!s.name.empty()) return s.ns.empty() ? fmt::format("{} {}", s.kind, s.name) : fmt::format("{} {}/{}", s.kind, s.ns, s.name);
  std::string what = !s.resource.empty() ? s.resource : !s.kind.empty() ? s.kind : s.target;
  return s.ns.empty() ? what : fmt::format("{} in namespace {}", what, s.ns);
}

std::string redact_invalid_values(std::string message) {
  static constexpr std::string_view kMarker = "Invalid value: ";
  for (auto at = message.find(kMarker); at != std::string::npos; at = message.find(kMarker, at + 1)) {
    std::size_t start = at + kMarker.size();
    std::size_t end = start;
    if (end < message.size() && message[end] == '"') {
      for (++end; end < message.size() && message[end] != '"'; ++end) {
        if (message[end] == '\\') ++end;
      }
      end = std::min(end + 1, message.size());
    } else {
      end = message.find(": ", start);
      if (end == std::string::npos) end = message.size();
    }
    message.replace(start, end - start, "\"***\"");
  }
  return message;
}

ApiError decode_api_error(const HttpResponse& response, const RequestSubject& subject, const std::string& where,
                          int attempts) {
  const long status = response.status;
  const bool secret = subject.kind == "Secret";
  StatusBody body = read_status(response.body);
  std::string reason = body.reason.empty() ? std::string(default_reason(status)) : body.reason;
  std::string message = body.message;
  if (!body.is_status && !secret) message = excerpt(response.body);
  if (secret) message = redact_invalid_values(std::move(message));
  const std::string what = describe_subject(subject);
  const std::string note = attempts_note(attempts);

  switch (status) {
    case 404:
      if (!subject.name.empty()) return ApiError(404, reason, what + " not found");
      return ApiError(404, reason, about(fmt::format("{} {}", subject.verb, what), message.empty() ? "not found" : message));
    case 409:
      if (reason == "AlreadyExists" && !subject.name.empty()) return ApiError(409, reason, what + " already exists");
      if (subject.verb == "apply" && starts_with(message, "Apply failed")) {
        message += " (apply with force = true to take these fields over from their managers)";
      }
      return ApiError(409, reason, about(what, message) + note);
    case 422: {
      if (body.causes.empty()) return ApiError(422, reason, about(what, message));
      std::string fields;
      for (const auto& [field, cause] : body.causes) {
        std::string text = secret ? redact_invalid_values(cause) : cause;
        fields += fields.empty() ? "" : "; ";
        fields += field.empty() ? text : field + ": " + text;
      }
      return ApiError(422, reason, fmt::format("{} is invalid: {}", what, fields));
    }
    case 401:
      if (message == "Unauthorized") message.clear();  // the API server's whole message: it adds nothing
      return ApiError(401, reason,
                      fmt::format("{} {}: {} refused the credentials (401 Unauthorized{}): check the context's user in "
                                  "the kubeconfig (an expired or revoked token, or a client certificate the cluster "
                                  "does not trust)", subject.verb, what, where, message.empty() ? "" : ": " + message));
    case 403:
      if (message.empty()) {
        message = fmt::format("forbidden: the context's user cannot {} {}{}", subject.verb,
                              subject.resource.empty() ? what : subject.resource,
                              subject.ns.empty() ? "" : " in namespace " + subject.ns);
      }
      return ApiError(403, reason,
                      fmt::format("{} {} on {} was refused: {} (grant the context's user that permission, or use a "
                                  "context whose user has it)", subject.verb, what, where, message));
    case 429:
      if (subject.verb == "evict") {
        // The server's words name the budget in the causes when not in the message.
        for (const auto& [field, cause] : body.causes) {
          if (cause.empty() || message.find(cause) != std::string::npos) continue;
          message += message.empty() ? "" : message.back() == '.' ? " " : ": ";
          message += cause;
        }
        return ApiError(429, reason, message.empty() ? what + " cannot be evicted now (429 TooManyRequests)" : message);
      }
      return ApiError(429, reason,
                      fmt::format("{} {}: {} is too busy to serve it (429 TooManyRequests{}){}", subject.verb, what,
                                  where, message.empty() ? "" : ": " + message, note));
    default:
      break;
  }
  std::string head = fmt::format("{} {}", subject.verb, what);
  std::string tail = message.empty() ? "" : ": " + message;
  if (status == 415 && message.find("strategic") != std::string::npos) {
    tail += " (custom resources take merge patches only: patch with type = \"merge\")";
  }
  if (status >= 500) {
    return ApiError(static_cast<int>(status), reason,
                    fmt::format("{} failed on {}: the server answered {} {}{}{}", head, where, status, reason, tail, note));
  }
  return ApiError(static_cast<int>(status), reason,
                  fmt::format("{} on {}: the server answered {}{}{}{}", head, where, status,
                              reason.empty() ? "" : " " + reason, tail, note));
}

ApiError connection_error(const TransportError& error, const RequestSubject& subject, int attempts) {
  return ApiError(0, "", fmt::format("{} {}: {}{}", subject.verb, describe_subject(subject), error.what(),
                                     attempts_note(attempts)));
}

}  // namespace refit::kube
