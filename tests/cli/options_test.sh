#!/usr/bin/env bash
# Command-line options end to end: values files, --stdlib, --lib, budgets, fixture and scenario errors.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh
PB=tests/scripts/playbooks/semantics.lua
FX=tests/scripts/fixtures/minimal.yaml
F=tests/cli/files

run plan $PB --sim $FX -f $F/values.yaml
expect_code 3 "-f values.yaml sets the parameters (fail_at: last)"
expect_out 'step "last" failed' "the values file's step fails"

run plan $PB --sim $FX -f $F/values.yaml --set fail_at=second
expect_code 3 "--set wins over -f"
expect_out 'step "second" failed' "--set's value is the one used"

run plan eks/upgrade --sim examples/clusters/eks-1.20.yaml -f $F/eks-values-unquoted.yaml
expect_code 1 "an unquoted version in a values file is refused"
expect_err 'param "to"' "the error names the parameter"
expect_err 'quote it' "the error says to quote it"

run plan $F/needs_modules.lua --sim $FX --lib $F/lib
expect_code 0 "--lib adds a module directory"
expect_out "from --lib" "the --lib module ran"

run plan $F/needs_modules.lua --sim $FX
expect_code 3 "without --lib the module is missing"
expect_out "tests/cli/files/needs_modules.lua:8: module 'shared_helper' not found:" "the missing module is named at the require"

run plan $F/needs_modules.lua --sim $FX --lib $F/lib --set extra=true
expect_code 3 "refit.extra is not in the embedded stdlib"
stdlib_copy=$(mktemp -d)
cp -r stdlib/. "$stdlib_copy/" && cp $F/stdlib_extra/refit/extra.lua "$stdlib_copy/refit/extra.lua"
run plan $F/needs_modules.lua --sim $FX --lib $F/lib --set extra=true --stdlib "$stdlib_copy"
expect_code 0 "--stdlib DIR loads the stdlib from disk"
expect_out "from --stdlib" "the disk stdlib's module ran"
REFIT_STDLIB="$stdlib_copy" run plan $F/needs_modules.lua --sim $FX --lib $F/lib --set extra=true
expect_code 0 "REFIT_STDLIB does the same"
rm -rf "$stdlib_copy"

run plan $F/runaway.lua --sim $FX --max-instructions 1000000
expect_code 3 "a runaway loop stops the step (nothing changed: exit 3)"
expect_out "tests/cli/files/runaway.lua:7: stopped after 1000000 Lua instructions in one call" "the loop is named at its line"

run plan $PB --sim $F/fixture-unquoted-version.yaml
expect_code 1 "an unquoted version in a fixture is refused"
expect_err 'tests/cli/files/fixture-unquoted-version.yaml: clusters.test.version: must be a string (quote it: "1.20"), got number 1.2' \
  "the fixture error names the file and the field"

run plan eks/upgrade --sim examples/clusters/eks-1.20.yaml --scenario $F/scenario-unknown-fault.yaml
expect_code 1 "an unknown fault type is refused"
expect_err "tests/cli/files/scenario-unknown-fault.yaml: faults[1].type:" "the scenario error names the scenario file and the field"

run plan eks/upgrade --sim examples/clusters/eks-1.20.yaml --scenario $F/scenario-unknown-nodegroup.yaml
expect_code 1 "a fault naming a node group the cluster lacks is refused (it would never fire)"
expect_err 'faults[1].nodegroup: "genral" is not in cluster demo (did you mean "general"?)' "the refusal suggests the name"

finish
