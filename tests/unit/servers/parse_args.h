// Runs a server's parse_config() (argv[0] = `program`, then `args`) with its stderr captured:
// what the config tests of the servers check (the config, or exit code 2 and a message).
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

namespace ntm::test {

template <class Config>
struct Parsed {
  std::optional<Config> config;
  int exit_code = -1;
  std::string err;
};

template <class Config>
Parsed<Config> parse_args(std::optional<Config> (*parse_config)(int, char**, int&),
                          const std::string& program, std::vector<std::string> args) {
  args.insert(args.begin(), program);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  Parsed<Config> p;
  ::testing::internal::CaptureStderr();
  p.config = parse_config(int(args.size()), argv.data(), p.exit_code);
  p.err = ::testing::internal::GetCapturedStderr();
  return p;
}

}  // namespace ntm::test
