// refit paths [PRODUCT [FROM TO]]: the upgrades a product supports, and the route between two versions.
// The rules live in Lua (refit.paths) over the data bundled at scripts/<product>/data/paths.yaml; this
// file only finds the data, asks refit.paths and prints the answer.
#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "cli/common.hpp"
#include "data/json_fields.hpp"
#include "lua/embedded_files.hpp"
#include "lua/json_bridge.hpp"
#include "run/session.hpp"

namespace refit::cli {

using data::string_member;

namespace {

const std::string kDataPrefix = "scripts/";
const std::string kDataSuffix = "/data/paths.yaml";

std::string data_path(const std::string& product) { return kDataPrefix + product + kDataSuffix; }

// Every product with bundled upgrade paths, sorted (the embedded files are).
std::vector<std::string> products() {
  std::vector<std::string> out;
  for (const auto& f : embedded::all()) {
    std::string path(f.path);
    if (path.size() <= kDataPrefix.size() + kDataSuffix.size() || path.rfind(kDataPrefix, 0) != 0 ||
        path.compare(path.size() - kDataSuffix.size(), kDataSuffix.size(), kDataSuffix) != 0) {
      continue;
    }
    std::string product = path.substr(kDataPrefix.size(), path.size() - kDataPrefix.size() - kDataSuffix.size());
    if (product.find('/') == std::string::npos) out.push_back(product);
  }
  return out;
}

std::string joined(const std::vector<std::string>& items, const std::string& separator = ", ") {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : separator) + item;
  return out;
}

// What refit.paths.report answered: the description or the route, or why there is no route.
struct Answer {
  nlohmann::json value;
  std::string why;
};

// require("refit.paths").report(text, source [, from, to]). Malformed data raises: std::runtime_error.
Answer ask(lua::Vm& vm, const std::string& product, const std::optional<std::pair<std::string, std::string>>& hop) {
  std::string source = data_path(product);
  auto text = embedded::find(source);
  if (!text) throw std::runtime_error(fmt::format("{} is not bundled", source));
  lua_State* L = vm.state();
  lua_getglobal(L, "require");
  lua_pushliteral(L, "refit.paths");
  if (auto err = vm.pcall(1, 1)) throw std::runtime_error(err->message);
  lua_getfield(L, -1, "report");
  lua_remove(L, -2);
  lua_pushlstring(L, text->data(), text->size());
  lua_pushstring(L, source.c_str());
  int nargs = 2;
  if (hop) {
    lua_pushstring(L, hop->first.c_str());
    lua_pushstring(L, hop->second.c_str());
    nargs = 4;
  }
  if (auto err = vm.pcall(nargs, 2)) throw std::runtime_error(err->message);
  Answer answer;
  if (lua_isnil(L, -2)) {
    const char* why = lua_tostring(L, -1);
    answer.why = why != nullptr ? why : "no supported route";
  } else {
    answer.value = lua::to_json(L, -2);
  }
  lua_pop(L, 2);
  return answer;
}

std::vector<std::string> strings(const nlohmann::json& j, const char* key) {
  std::vector<std::string> out;
  auto it = j.find(key);
  if (it != j.end() && it->is_array()) {
    for (const auto& s : *it) out.push_back(s.get<std::string>());
  }
  return out;
}

// "1.20 -> 1.21", padded, then the command that runs the hop when the data names one.
void print_hops(const nlohmann::json& hops, bool numbered) {
  std::size_t width = 0;
  for (const auto& h : hops) {
    width = std::max(width, string_member(h, "from").size() + 4 + string_member(h, "to").size());
  }
  int i = 0;
  for (const auto& h : hops) {
    std::string hop = string_member(h, "from") + " -> " + string_member(h, "to");
    std::string command = string_member(h, "command");
    std::string number = numbered ? fmt::format("{}. ", ++i) : "";
    if (command.empty()) std::cout << fmt::format("  {}{}\n", number, hop);
    else std::cout << fmt::format("  {}{:<{}}   {}\n", number, hop, width, command);
  }
}

void print_route(const nlohmann::json& r) {
  auto hops = r["hops"].size();
  std::cout << fmt::format("{} {} -> {}: {} hop{}\n", string_member(r, "name"), string_member(r, "from"),
                           string_member(r, "to"), hops, hops == 1 ? "" : "s");
  print_hops(r["hops"], true);
}

void print_description(const nlohmann::json& d) {
  std::cout << string_member(d, "rule") << "\n"
            << "  source: " << string_member(d, "document") << "\n"
            << "  data:   " << string_member(d, "source") << " (built into refit)\n"
            << "\nVersions\n  " << joined(strings(d, "versions")) << "\n"
            << "\nSupported hops\n";
  print_hops(d["hops"], false);
  auto notes = strings(d, "notes");
  if (!notes.empty()) {
    std::cout << "\nNotes\n";
    for (const auto& note : notes) std::cout << "  " << note << "\n";
  }
}

struct PathsOptions {
  std::string product;
  std::string from;  // FROM and TO: both or neither
  std::string to;
  std::string output = "text";
};

// refit paths: one line per product.
int list_products(const GlobalOptions& global, const PathsOptions& opts) {
  auto names = products();
  std::size_t width = 0;
  for (const auto& n : names) width = std::max(width, n.size());
  int status = 0;
  nlohmann::json all = nlohmann::json::array();
  for (const auto& name : names) {
    lua::Vm vm(vm_options(global));
    run::prepare_vm(vm);
    try {
      auto d = ask(vm, name, std::nullopt).value;
      if (opts.output == "json") all.push_back(d);
      else std::cout << fmt::format("{:<{}}  {}\n", name, width, string_member(d, "rule"));
    } catch (const std::exception& e) {
      print_error(e.what());
      status = 1;
    }
  }
  if (opts.output == "json") std::cout << all.dump() << "\n";
  return status;
}

int run_paths(const GlobalOptions& global, const PathsOptions& opts) {
  if (opts.product.empty()) return list_products(global, opts);
  auto known = products();
  if (std::find(known.begin(), known.end(), opts.product) == known.end()) {
    print_error(fmt::format("no upgrade paths for product \"{}\": refit knows {} (refit paths lists them)",
                            opts.product, known.empty() ? "none" : joined(known)));
    return 1;
  }
  if (!opts.from.empty() && opts.to.empty()) {
    print_error(fmt::format("paths {} {}: give the target too (refit paths {} FROM TO), or no version to see "
                            "every supported upgrade", opts.product, opts.from, opts.product));
    return 1;
  }
  lua::Vm vm(vm_options(global));
  run::prepare_vm(vm);
  if (opts.from.empty()) {
    auto d = ask(vm, opts.product, std::nullopt).value;
    if (opts.output == "json") std::cout << d.dump() << "\n";
    else print_description(d);
    return 0;
  }
  const auto& from = opts.from;
  const auto& to = opts.to;
  auto answer = ask(vm, opts.product, std::make_pair(from, to));
  if (!answer.why.empty()) {
    // -o json consumers still get a line saying there is no route, and why
    if (opts.output == "json") {
      std::cout << nlohmann::ordered_json{{"product", opts.product}, {"from", from}, {"to", to}, {"route", nullptr},
                                          {"error", answer.why}}.dump() << "\n";
    }
    std::cout.flush();
    print_error(answer.why);
    return 1;
  }
  if (opts.output == "json") std::cout << answer.value.dump() << "\n";
  else print_route(answer.value);
  return 0;
}

}  // namespace

void add_paths(CLI::App& app, GlobalOptions& global, Command& command) {
  auto opts = std::make_shared<PathsOptions>();
  auto* sub = app.add_subcommand("paths", "a product's supported upgrade paths, and the route from one version "
                                          "to another");
  sub->add_option("PRODUCT", opts->product, joined(products()) + " (none: list the products)");
  sub->add_option("FROM", opts->from, "the installed version (without FROM and TO: every supported upgrade)");
  sub->add_option("TO", opts->to, "the target version");
  sub->add_option("-o,--output", opts->output, "text, or json")->check(CLI::IsMember({"text", "json"}));
  sub->callback([&global, &command, opts] {
    command.run = [&global, opts] { return run_paths(global, *opts); };
  });
}

}  // namespace refit::cli
