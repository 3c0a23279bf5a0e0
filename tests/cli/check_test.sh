#!/usr/bin/env bash
# refit check: load and validate, run nothing; contract errors name the file and the field.
cd "$(dirname "$0")/../.." || exit 1
source tests/cli/lib.sh

run check tests/cli/playbooks/bad_retries.lua
expect_code 1 "a contract error exits 1"
expect_err_exact 'refit: tests/cli/playbooks/bad_retries.lua: step "drain": retries must be an integer, got string' \
  "the contract error names the file, the step and the field"

run check tests/cli/playbooks/syntax_error.lua
expect_code 1 "a syntax error exits 1"
expect_err "tests/cli/playbooks/syntax_error.lua:" "a syntax error names the file and line"

run check tests/cli/playbooks/undeclared_global.lua
expect_code 1 "an undeclared global exits 1"
expect_err_exact "refit: tests/cli/playbooks/undeclared_global.lua:2: assignment to undeclared global 'retries' (use local)" \
  "an undeclared global names file:line"

run check tests/cli/playbooks/missing.lua
expect_code 1 "a missing file exits 1"
expect_err 'no playbook "tests/cli/playbooks/missing.lua"' "a missing playbook is named"

run check tests/scripts/playbooks/semantics.lua
expect_code 0 "a valid playbook passes"
expect_out 'ok  tests/scripts/playbooks/semantics.lua: playbook "test/semantics", 5 steps' "check reports the playbook"

run frobnicate
expect_code 1 "an unknown subcommand is a usage error (exit 1)"

finish
