// refit sim serve: request paths, Go durations and continue tokens.
#include <catch2/catch.hpp>

#include "serve/api_path.hpp"
#include "serve/api_request.hpp"
#include "serve/list_paging.hpp"
#include "report/duration_text.hpp"

#include <fmt/format.h>

using refit::serve::ApiPath;
using refit::serve::ContinueToken;
using refit::serve::Endpoint;
using refit::serve::parse_api_path;

namespace {

std::string describe(const ApiPath& p) {
  return fmt::format("{}|{}|{}|{}|{}|{}|{}|{}", static_cast<int>(p.endpoint), p.cluster, p.group, p.version, p.ns,
                     p.resource, p.name, p.subresource);
}

std::string resource(std::string cluster, std::string group, std::string version, std::string ns, std::string res,
                     std::string name = "", std::string sub = "") {
  ApiPath p;
  p.endpoint = Endpoint::Resource;
  p.cluster = std::move(cluster);
  p.group = std::move(group);
  p.version = std::move(version);
  p.ns = std::move(ns);
  p.resource = std::move(res);
  p.name = std::move(name);
  p.subresource = std::move(sub);
  return describe(p);
}

}  // namespace

TEST_CASE("paths name the cluster and the resource, as the API server routes them", "[serve][paths]") {
  CHECK(describe(parse_api_path("/clusters/demo/api/v1/pods")) == resource("demo", "", "v1", "", "pods"));
  CHECK(describe(parse_api_path("/clusters/demo/api/v1/namespaces/shop/pods")) == resource("demo", "", "v1", "shop", "pods"));
  CHECK(describe(parse_api_path("/clusters/demo/api/v1/namespaces/shop/pods/web-1")) ==
        resource("demo", "", "v1", "shop", "pods", "web-1"));
  CHECK(describe(parse_api_path("/clusters/demo/api/v1/namespaces/shop/pods/web-1/eviction")) ==
        resource("demo", "", "v1", "shop", "pods", "web-1", "eviction"));
  CHECK(describe(parse_api_path("/clusters/demo/apis/apps/v1/namespaces/shop/deployments/web/status/")) ==
        resource("demo", "apps", "v1", "shop", "deployments", "web", "status"));
  CHECK(describe(parse_api_path("/clusters/demo/api/v1/nodes/node-1")) == resource("demo", "", "v1", "", "nodes", "node-1"));
}

TEST_CASE("namespaces are a resource with their own status and finalize subresources", "[serve][paths]") {
  CHECK(describe(parse_api_path("/clusters/c/api/v1/namespaces")) == resource("c", "", "v1", "", "namespaces"));
  CHECK(describe(parse_api_path("/clusters/c/api/v1/namespaces/shop")) == resource("c", "", "v1", "", "namespaces", "shop"));
  CHECK(describe(parse_api_path("/clusters/c/api/v1/namespaces/shop/status")) ==
        resource("c", "", "v1", "", "namespaces", "shop", "status"));
  CHECK(describe(parse_api_path("/clusters/c/api/v1/namespaces/shop/finalize")) ==
        resource("c", "", "v1", "", "namespaces", "shop", "finalize"));
  CHECK(describe(parse_api_path("/clusters/c/api/v1/namespaces/shop/configmaps")) ==
        resource("c", "", "v1", "shop", "configmaps"));
}

TEST_CASE("discovery and refit's own endpoints", "[serve][paths]") {
  CHECK(parse_api_path("/clusters/demo/version").endpoint == Endpoint::Version);
  CHECK(parse_api_path("/clusters/demo/api").endpoint == Endpoint::CoreVersions);
  CHECK(parse_api_path("/clusters/demo/apis").endpoint == Endpoint::GroupList);
  ApiPath group = parse_api_path("/clusters/demo/apis/apps");
  CHECK(group.endpoint == Endpoint::Group);
  CHECK(group.group == "apps");
  ApiPath core = parse_api_path("/clusters/demo/api/v1");
  CHECK(core.endpoint == Endpoint::ResourceList);
  CHECK(core.version == "v1");
  ApiPath apps = parse_api_path("/clusters/demo/apis/apps/v1/");
  CHECK(apps.endpoint == Endpoint::ResourceList);
  CHECK(apps.group == "apps");
  CHECK(apps.version == "v1");
  ApiPath openapi = parse_api_path("/clusters/demo/openapi/v2");
  CHECK(openapi.endpoint == Endpoint::OpenApi);
  CHECK(openapi.version == "v2");
  CHECK(parse_api_path("/clusters/demo/healthz").endpoint == Endpoint::Health);
  CHECK(parse_api_path("/refit/v1/dump").endpoint == Endpoint::RefitDump);
  CHECK(parse_api_path("/refit/v1/dump").cluster.empty());
}

TEST_CASE("paths that name nothing are Unknown, keeping the cluster they name", "[serve][paths]") {
  for (const char* path : {"/", "/api/v1/pods", "/clusters", "/clusters/demo", "/clusters/demo/api/v2/pods",
                           "/clusters/demo/api/v1/namespaces/a/pods/b/c/d", "/clusters/demo/apis/apps/v1/a/b/c/d",
                           "/clusters/demo/nonsense"}) {
    INFO(path);
    CHECK(parse_api_path(path).endpoint == Endpoint::Unknown);
  }
  CHECK(parse_api_path("/clusters/demo/api/v2/pods").cluster == "demo");
  CHECK(parse_api_path("/api/v1/pods").cluster.empty());
}

TEST_CASE("Go durations, as clients send ?timeout=", "[serve][paths]") {
  using std::chrono::milliseconds;
  CHECK(refit::serve::parse_go_duration("32s") == milliseconds(32'000));
  CHECK(refit::serve::parse_go_duration("1m30s") == milliseconds(90'000));
  CHECK(refit::serve::parse_go_duration("1h0m0s") == milliseconds(3'600'000));
  CHECK(refit::serve::parse_go_duration("250ms") == milliseconds(250));
  CHECK(refit::serve::parse_go_duration("1.5s") == milliseconds(1500));
  CHECK(refit::serve::parse_go_duration("0") == milliseconds(0));
  CHECK_FALSE(refit::serve::parse_go_duration("").has_value());
  CHECK_FALSE(refit::serve::parse_go_duration("5").has_value());
  CHECK_FALSE(refit::serve::parse_go_duration("5 s").has_value());
  CHECK_FALSE(refit::serve::parse_go_duration("5d").has_value());
}

TEST_CASE("refit's durations, as fixtures, scenarios and duration options write them", "[serve][paths]") {
  using refit::report::parse_duration_ms;
  CHECK(parse_duration_ms("250ms") == 250);
  CHECK(parse_duration_ms("90s") == 90'000);
  CHECK(parse_duration_ms("1h30m") == 5'400'000);
  CHECK(parse_duration_ms("1s500ms") == 1'500);
  CHECK(parse_duration_ms("0s") == 0);
  CHECK(parse_duration_ms("999999999999h") == 999'999'999'999LL * 3'600'000);
  for (const char* bad : {"", "5", "1h30", "1.5s", "-5s", "5 s", "5d", "5sec", "s", "1000000000000s"}) {
    INFO(bad);
    CHECK_FALSE(parse_duration_ms(bad).has_value());
  }
  // Every text duration_text writes at or above a second, read back to the same second or minute.
  CHECK(parse_duration_ms(refit::report::duration_text(185'000)) == 185'000);
  CHECK(parse_duration_ms(refit::report::duration_text(850)) == 850);
}

TEST_CASE("continue tokens carry the list's resourceVersion, where the next page starts, and what is left",
          "[serve][paging]") {
  ContinueToken token{1234, "shop", "web-7", 9500};
  std::string text = refit::serve::encode_continue(token);
  CHECK(text.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == std::string::npos);
  auto back = refit::serve::decode_continue(text);
  REQUIRE(back.has_value());
  CHECK(back->resource_version == 1234);
  CHECK(back->ns == "shop");
  CHECK(back->name == "web-7");
  CHECK(back->remaining == 9500);

  CHECK_FALSE(refit::serve::decode_continue("not a token!").has_value());
  CHECK_FALSE(refit::serve::decode_continue(refit::serve::base64url_encode("{\"rv\":1}")).has_value());
  std::string without_count = refit::serve::base64url_encode(R"({"rv":1,"ns":"","name":"a"})");
  CHECK_FALSE(refit::serve::decode_continue(without_count).has_value());
  CHECK_FALSE(refit::serve::decode_continue(refit::serve::base64url_encode("[1,2]")).has_value());
}

TEST_CASE("list order is namespace, then name: a page starts after the token's object", "[serve][paging]") {
  ContinueToken token{1, "shop", "web-2", 0};
  CHECK_FALSE(refit::serve::after_token(token, "shop", "web-1"));
  CHECK_FALSE(refit::serve::after_token(token, "shop", "web-2"));
  CHECK(refit::serve::after_token(token, "shop", "web-3"));
  CHECK(refit::serve::after_token(token, "tools", "a"));
  CHECK_FALSE(refit::serve::after_token(token, "default", "z"));
}

TEST_CASE("base64url round-trips every byte", "[serve][paging]") {
  std::string bytes;
  for (int i = 0; i < 256; ++i) bytes.push_back(static_cast<char>(i));
  for (std::size_t n : {0u, 1u, 2u, 3u, 4u, 255u, 256u}) {
    std::string part = bytes.substr(0, n);
    CHECK(refit::serve::base64url_decode(refit::serve::base64url_encode(part)) == part);
  }
  CHECK(refit::serve::base64url_encode("hello?") == "aGVsbG8_");
}
