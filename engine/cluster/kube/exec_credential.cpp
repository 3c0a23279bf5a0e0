// ExecCredential request and response, as client-go's exec authenticator writes and reads them.
#include "cluster/kube/exec_credential.hpp"

#include <fmt/format.h>

#include <ctime>
#include <regex>

namespace refit::kube {

using Json = nlohmann::json;

std::string exec_credential_request(const std::string& api_version, const Json& cluster) {
  Json spec = {{"interactive", false}};
  if (!cluster.is_null()) spec["cluster"] = cluster;
  return Json{{"apiVersion", api_version}, {"kind", "ExecCredential"}, {"spec", spec}}.dump();
}

namespace {

// Only the apiVersions of the protocol are named back in messages; anything else the plugin put
// there is plugin output, and stays unquoted.
std::string describe_api_version(const Json& value) {
  if (value.is_string()) {
    const auto& s = value.get_ref<const std::string&>();
    if (s == kExecApiV1 || s == kExecApiV1beta1 || s == "client.authentication.k8s.io/v1alpha1") {
      return fmt::format("apiVersion {}", s);
    }
    return s.empty() ? "an empty apiVersion" : "an apiVersion of another API";
  }
  return value.is_null() ? "no apiVersion" : "an apiVersion that is not a string";
}

std::string optional_string(const Json& status, const char* key) {
  auto it = status.find(key);
  if (it == status.end() || it->is_null()) return "";
  if (!it->is_string()) throw ExecCredentialFormatError(fmt::format("its status.{} is not a string", key));
  return it->get<std::string>();
}

}  // namespace

ExecCredentialStatus parse_exec_credential(const std::string& out, const std::string& api_version) {
  Json doc;
  try {
    doc = Json::parse(out);
  } catch (const Json::parse_error& e) {
    // e.what() quotes the text around the error: only the position is safe to give.
    throw ExecCredentialFormatError(
        out.find_first_not_of(" \t\r\n") == std::string::npos
            ? "it printed nothing on stdout"
            : fmt::format("it printed something other than JSON on stdout (invalid at byte {})", e.byte));
  }
  if (!doc.is_object()) throw ExecCredentialFormatError("it printed JSON that is not an ExecCredential object");
  Json version = doc.value("apiVersion", Json());
  if (version != api_version) {
    throw ExecCredentialFormatError(
        fmt::format("it answered with {}, but the kubeconfig asks for {}", describe_api_version(version), api_version));
  }
  if (doc.value("kind", Json()) != "ExecCredential") {
    throw ExecCredentialFormatError("its answer's kind is not ExecCredential");
  }
  auto status_it = doc.find("status");
  if (status_it == doc.end() || !status_it->is_object()) throw ExecCredentialFormatError("its answer has no status");
  const Json& status = *status_it;
  ExecCredentialStatus result;
  result.token = optional_string(status, "token");
  result.cert_pem = optional_string(status, "clientCertificateData");
  result.key_pem = optional_string(status, "clientKeyData");
  if (result.cert_pem.empty() != result.key_pem.empty()) {
    throw ExecCredentialFormatError(result.cert_pem.empty()
                                        ? "its status has clientKeyData without clientCertificateData"
                                        : "its status has clientCertificateData without clientKeyData");
  }
  if (result.token.empty() && result.cert_pem.empty()) {
    throw ExecCredentialFormatError(
        "its status has neither a token nor a client certificate (status.token, or status.clientCertificateData "
        "and status.clientKeyData)");
  }
  std::string expiry = optional_string(status, "expirationTimestamp");
  if (!expiry.empty()) {
    result.expires = parse_rfc3339(expiry);
    if (!result.expires) {
      throw ExecCredentialFormatError("its status.expirationTimestamp is not an RFC 3339 time (2024-05-01T10:00:00Z)");
    }
  }
  return result;
}

std::optional<std::chrono::system_clock::time_point> parse_rfc3339(const std::string& text) {
  static const std::regex form(R"((\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2}))");
  std::smatch m;
  if (!std::regex_match(text, m, form)) return std::nullopt;
  std::tm tm{};
  tm.tm_year = std::stoi(m[1]) - 1900;
  tm.tm_mon = std::stoi(m[2]) - 1;
  tm.tm_mday = std::stoi(m[3]);
  tm.tm_hour = std::stoi(m[4]);
  tm.tm_min = std::stoi(m[5]);
  tm.tm_sec = std::stoi(m[6]);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 || tm.tm_sec > 60) {
    return std::nullopt;
  }
  std::time_t seconds = ::timegm(&tm);
  std::string offset = m[8];
  if (offset != "Z" && offset != "z") {
    int minutes = std::stoi(offset.substr(1, 2)) * 60 + std::stoi(offset.substr(4, 2));
    seconds -= (offset[0] == '-' ? -1 : 1) * minutes * 60;
  }
  auto point = std::chrono::system_clock::from_time_t(seconds);
  if (m[7].matched) {
    std::string fraction = m[7].str().substr(1, 9);
    fraction.resize(9, '0');
    point +=
        std::chrono::duration_cast<std::chrono::system_clock::duration>(std::chrono::nanoseconds(std::stoll(fraction)));
  }
  return point;
}

}  // namespace refit::kube
