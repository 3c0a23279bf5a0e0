// What the kubeconfig and credential tests share: a private temporary directory for kubeconfigs,
// token files and plugin records, and the fixture exec plugin.
#pragma once
#include <stdlib.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "temp_dir.hpp"

namespace refit::kube::testing {

using ::refit::testing::TempDir;

inline std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// How many times the fixture plugin ran (it appends a line to PLUGIN_RUNS per run).
inline int plugin_runs(const std::string& runs_file) {
  std::ifstream in(runs_file);
  int lines = 0;
  for (std::string line; std::getline(in, line);) ++lines;
  return lines;
}

inline std::string fixture_plugin() {
  return std::filesystem::absolute("tests/unit/fixtures/kube/exec-plugin.sh").string();
}

// The message of the exception `action` throws (the test fails when it throws none).
template <typename Action>
std::string error_of(Action action) {
  try {
    action();
  } catch (const std::exception& e) {
    return e.what();
  }
  FAIL("expected an exception");
  return "";
}

}  // namespace refit::kube::testing
