// refit snapshot [PLAYBOOK] --context CTX -o fixture.yaml: a live cluster (or an inventory's
// clusters) saved as a fixture, read-only, so a plan can be rehearsed again and again against the
// cluster as it was. With a playbook, the cloud side it names is read too (run/snapshot_hooks.hpp:
// the EKS control plane, node groups and add-ons for eks/upgrade), as `refit plan --context` reads it.
#include <iostream>
#include <memory>

#include "cli/common.hpp"
#include "data/yaml.hpp"
#include "playbook/playbook.hpp"
#include "run/local_file.hpp"
#include "run/real_world.hpp"
#include "run/snapshot_hooks.hpp"

namespace refit::cli {

namespace {

struct SnapshotCommandOptions {
  std::string playbook;  // optional: whose cloud side to read
  std::string context;
  std::optional<std::string> inventory;
  std::string kubeconfig;
  std::string output;  // "-" or empty: stdout
  std::vector<std::string> sets;
  std::optional<std::string> values_file;
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
  if (opts.playbook.empty() && (!opts.sets.empty() || opts.values_file)) {
    print_error("--set and -f give a playbook's parameters: name the playbook whose cloud side to read "
                "(refit snapshot eks/upgrade --context CTX --set cluster=NAME)");
    return 1;
  }
  run::RealWorldOptions real;
  try {
    real.targets = opts.inventory ? run::read_inventory(*opts.inventory) : run::single_target(opts.context);
  } catch (const run::InventoryError& e) {
    print_error(e.what());
    return 1;
  }
  // The playbook and its parameters before any cluster is read: a mistake there costs no request.
  std::unique_ptr<run::SnapshotHooks> hooks;
  if (!opts.playbook.empty()) {
    run::SnapshotHookOptions hook_options;
    hook_options.playbook = opts.playbook;
    hook_options.sets = opts.sets;
    hook_options.values_file = opts.values_file;
    hook_options.vm = vm_options(global);
    hook_options.warn = [](const std::string& message) { std::cerr << "refit: warning: " << message << '\n'; };
    if (global.verbose) {
      hook_options.note = [](const std::string& message) { std::cerr << "refit: " << message << '\n'; };
    }
    try {
      hooks = std::make_unique<run::SnapshotHooks>(std::move(hook_options));
    } catch (const playbook::LoadError& e) {
      print_error(e.what());
      return 1;
    }
  }
  real.kubeconfig = opts.kubeconfig;
  real.warn = [](const std::string& message) { std::cerr << "refit: warning: " << message << '\n'; };
  run::RealWorld world(std::move(real));
  auto progress = [&global](const std::string& line) {
    if (global.verbose) std::cerr << "refit: read " << line << '\n';
  };
  nlohmann::json fixture = world.snapshot(false, progress);
  if (hooks) hooks->read(world, fixture);
  std::string text = "# " + fixture["description"].get<std::string>() + "; Secret values are redacted\n" +
                     data::to_yaml(fixture);
  if (opts.output.empty() || opts.output == "-") {
    std::cout << text;
    return 0;
  }
  run::local_file::write_private(opts.output, text);
  std::size_t objects = 0;
  std::string cloud;
  for (const auto& [name, c] : fixture["clusters"].items()) {
    objects += c["objects"].size();
    for (const std::string& section : hooks ? hooks->sections() : std::vector<std::string>{}) {
      if (c.contains(section)) cloud += (cloud.empty() ? "" : ", ") + section + " of " + name;
    }
  }
  std::cerr << "refit: wrote " << opts.output << ": " << fixture["clusters"].size() << " cluster"
            << (fixture["clusters"].size() == 1 ? "" : "s") << ", " << objects << " objects"
            << (cloud.empty() ? "" : "; cloud side: " + cloud) << "\n";
  return 0;
}

}  // namespace

void add_snapshot(CLI::App& app, GlobalOptions& global, Command& command) {
  auto opts = std::make_shared<SnapshotCommandOptions>();
  auto* sub = app.add_subcommand("snapshot", "save live clusters as a fixture (read-only; Secret values redacted)");
  sub->add_option("PLAYBOOK", opts->playbook,
                  "also read the cloud side this playbook plans against (eks/upgrade: the EKS cluster)");
  sub->add_option("--context", opts->context, "kubeconfig context of the cluster to read");
  sub->add_option("--inventory", opts->inventory, "YAML file mapping cluster names to kubeconfig contexts");
  sub->add_option("--kubeconfig", opts->kubeconfig, "kubeconfig file (else KUBECONFIG, else ~/.kube/config)");
  sub->add_option("-o,--output", opts->output, "fixture file to write (default: stdout)");
  sub->add_option("--set", opts->sets, "the playbook's parameter name=value (repeatable; wins over -f)");
  sub->add_option("-f,--values", opts->values_file, "YAML file of the playbook's parameter values");
  sub->callback([&global, &command, opts] {
    command.run = [&global, opts] { return snapshot(*opts, global); };
  });
}

}  // namespace refit::cli
