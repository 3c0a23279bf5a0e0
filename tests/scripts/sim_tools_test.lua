-- refit test tests/scripts/sim_tools_test.lua: the shared program registry of the simulated tools
-- (stdlib/refit/sim/tools.lua): dispatch on the longest subcommand, root commands, and cobra's
-- refusals of unknown commands and flags.
local t = require "refit.test"

local function run(list, sim)
  local r = t.plan { playbook = "tests/scripts/playbooks/commands.lua", sim = sim or "examples/clusters/kaptain-on-konvoy.yaml",
                     set = { commands = table.concat(list, ",") } }
  local results = {}
  for _, e in ipairs(r:all("state_set")) do results[tonumber(e.key:match("%d+"))] = e.value end
  return results
end

t.case("unknown commands and flags are refused as cobra refuses them", function()
  local res = run { "velero restore create x", "velero backup create b --bogus", "velero backup create b --wait=maybe",
                    "velero", "velero backup create b --include-namespaces" }
  t.eq(res[1], { code = 1, stdout = "", stderr = "Error: unknown command \"restore\" for \"velero\"\nRun 'velero --help' for usage.\n" })
  t.eq(res[2].stderr, "Error: unknown flag: --bogus\nRun 'velero --help' for usage.\n")
  t.eq(res[3].stderr, "Error: invalid argument \"maybe\" for \"--wait\" flag: strconv.ParseBool: parsing \"maybe\": " ..
                      "invalid syntax\nRun 'velero --help' for usage.\n")
  t.eq(res[4].stderr, "Error: a command is required (known: backup create, backup describe, backup get)\n" ..
                      "Run 'velero --help' for usage.\n")
  t.eq(res[5].stderr, "Error: flag needs an argument: --include-namespaces\nRun 'velero --help' for usage.\n")
end)

t.case("a program's root command answers argv that names no subcommand", function()
  local res = run({ "./kubermatic-installer --version", "./kubermatic-installer version --short", "./kubermatic-installer frobnicate" },
                  "examples/clusters/kkp-2.21.yaml")
  t.eq(res[1].code, 0)
  t.match(res[1].stdout, "^kubermatic%-installer version v2%.22%.%d+\n$")
  t.eq(res[2].stdout, "Kubermatic Enterprise Edition Installer v2.22.9\n")
  t.eq(res[3].code, 1)
  t.eq(res[3].stderr, "Error: unknown command \"frobnicate\" for \"./kubermatic-installer\"\n")
end)

t.case("helm list in a KKP world: the Helm releases the installer deployed, on the context's cluster", function()
  local res = run({ "helm list -A --kube-context seed-us -o json", "helm list -n minio --kube-context seed-eu -o json",
                    "./kubermatic-installer deploy kubermatic-seed --kube-context seed-us",
                    "helm list -A --kube-context seed-us -o json", "helm list -n minio --kube-context nowhere" },
                  "examples/clusters/kkp-2.21.yaml")
  local function releases(r)
    t.eq(r.code, 0, r.stderr)
    local out = {}
    for _, rel in ipairs(require("refit.json").decode(r.stdout)) do
      out[#out + 1] = table.concat({ rel.name, rel.namespace, rel.revision, rel.status, rel.chart, rel.app_version }, " ")
    end
    return out
  end
  t.eq(releases(res[1]), { "minio minio 1 deployed minio-v2.21.12 v2.21.12",
                           "s3-exporter kube-system 1 deployed s3-exporter-v2.21.12 v2.21.12" })
  t.eq(releases(res[2]), {})   -- seed-eu runs no seed stack
  t.eq(res[3].code, 0, res[3].stderr)
  t.eq(releases(res[4]), { "minio minio 2 deployed minio-v2.22.9 v2.22.9",
                           "s3-exporter kube-system 2 deployed s3-exporter-v2.22.9 v2.22.9" })
  t.eq(res[5], { code = 1, stdout = "", stderr = "Error: Kubernetes cluster unreachable: context \"nowhere\" does not exist\n" })
end)
