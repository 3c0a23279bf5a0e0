// refit snapshot --context CTX -o fixture.yaml: a live cluster (or an inventory's clusters) saved as
// a fixture, read-only, so a plan can be rehearsed again and again against the cluster as it was.
#include <iostream>
#include <memory>

#include "cli/common.hpp"
#include "data/yaml.hpp"
#include "run/local_file.hpp"
#include "run/real_world.hpp"

namespace refit::cli {

namespace {

struct SnapshotCommandOptions {
  std::string context;
  std::optional<std::string> inventory;
  std::string kubeconfig;
  std::string output;  // "-" or empty: stdout
};

int snapshot(const SnapshotCommandOptions& opts, const GlobalOptions& global) {
  if (opts.context.empty() && !opts.inventory) {
    print_error("which clusters? --context CTX (or --inventory FILE)");
    return 1;
  }
  if (!opts.context.empty() && opts.inventory) {
    print_error("--context names one cluster and --inventory several: give one or the other");
    return 1;
  }
  run::RealWorldOptions real;
  try {
    real.targets = opts.inventory ? run::read_inventory(*opts.inventory) : run::single_target(opts.context);
  } catch (const run::InventoryError& e) {
    print_error(e.what());
    return 1;
  }
  real.kubeconfig = opts.kubeconfig;
  real.warn = [](const std::string& message) { std::cerr << "refit: warning: " << message << '\n'; };
  run::RealWorld world(std::move(real));
  auto progress = [&global](const std::string& line) {
    if (global.verbose) std::cerr << "refit: read " << line << '\n';
  };
  nlohmann::json fixture = world.snapshot(false, progress);
  std::string text = "# " + fixture["description"].get<std::string>() + "; Secret values are redacted\n" +
                     data::to_yaml(fixture);
  if (opts.output.empty() || opts.output == "-") {
    std::cout << text;
    return 0;
  }
  run::local_file::write_private(opts.output, text);
  std::size_t objects = 0;
  for (const auto& [_, c] : fixture["clusters"].items()) objects += c["objects"].size();
  std::cerr << "refit: wrote " << opts.output << ": " << fixture["clusters"].size() << " cluster"
            << (fixture["clusters"].size() == 1 ? "" : "s") << ", " << objects << " objects\n";
  return 0;
}

}  // namespace

void add_snapshot(CLI::App& app, GlobalOptions& global, Command& command) {
  auto opts = std::make_shared<SnapshotCommandOptions>();
  auto* sub = app.add_subcommand("snapshot", "save live clusters as a fixture (read-only; Secret values redacted)");
  sub->add_option("--context", opts->context, "kubeconfig context of the cluster to read");
  sub->add_option("--inventory", opts->inventory, "YAML file mapping cluster names to kubeconfig contexts");
  sub->add_option("--kubeconfig", opts->kubeconfig, "kubeconfig file (else KUBECONFIG, else ~/.kube/config)");
  sub->add_option("-o,--output", opts->output, "fixture file to write (default: stdout)");
  sub->callback([&global, &command, opts] {
    command.run = [&global, opts] { return snapshot(*opts, global); };
  });
}

}  // namespace refit::cli
