// Request bodies in the Kubernetes protobuf encoding (application/vnd.kubernetes.protobuf), read into
// the JSON the handlers take. client-go's generated clients send built-in kinds as protobuf whenever the
// server is not configured otherwise (kubectl create secret, create configmap, ...), and they never fall
// back to JSON: their 415 fallback is only for CBOR. So the served world reads protobuf for the small
// kinds kubectl's create commands send (Secrets, ConfigMaps, Namespaces, ServiceAccounts, RBAC,
// PriorityClasses, PodDisruptionBudgets); for any other kind it answers 415, saying which kinds it reads.
#pragma once
#include <string_view>

#include <nlohmann/json.hpp>

namespace refit::serve {

inline constexpr std::string_view kProtobufMediaType = "application/vnd.kubernetes.protobuf";

// Decodes a body: the 4-byte "k8s\0" prefix, then a runtime.Unknown holding the apiVersion and kind and
// the object's own encoding, which is read with the kind's message layout (k8s.io/api generated.proto).
// Zero values are left out, as the API server's JSON leaves them out. `kind` is the kind the URL's
// resource holds; `subresource` the URL's (status, ...), empty for the object. Throws StatusError: 400
// for bytes that are not such a body, 415 for a kind whose layout the served world does not know, and
// for a subresource (the layouts leave status out).
nlohmann::json decode_protobuf_body(std::string_view body, std::string_view kind, std::string_view subresource = {});

}  // namespace refit::serve
