// What the write handlers check in a request's object before the store sees it, and the answers
// they share.
#pragma once
#include <string>
#include <string_view>

#include "serve/api_request.hpp"

namespace refit::serve {

// Checks and completes the object of a create, update or apply against the request, as the API
// server does: kind and apiVersion are filled in when absent and must be the resource's (its group;
// any version of it); metadata.name must be `url_name` when the URL names the object (and is set from
// it when absent); metadata.namespace must be the URL's (and is set from it when absent). 400 otherwise.
void fit_to_request(Json& object, const ApiRequest& request, std::string_view url_name);

// 404 `namespaces "x" not found` when a namespaced object would be created in a namespace that does
// not exist.
void require_namespace(const ApiRequest& request, std::string_view ns);

// The object's metadata.name / metadata.namespace ("" when absent).
std::string name_of(const Json& object);
std::string namespace_of(const Json& object);

// 415: the patch's media type is not one the resource accepts.
StatusError unsupported_patch_type(const ApiRequest& request);

}  // namespace refit::serve
