// A real ntm-dc on 127.0.0.1 with a port chosen at run time, plus helpers to start node
// processes (ntm-testnode, ntm-cat) pointed at it. Everything lives in a temp directory.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "process.h"

namespace ntm::test {

class DcFixture : public ::testing::Test {
 protected:
  /// On failure, the DC log and every node's stderr go to the test output (the temp
  /// directory is removed afterwards).
  void TearDown() override {
    if (!HasFailure()) return;
    for (auto& entry : std::filesystem::directory_iterator(dir_.path())) {
      auto ext = entry.path().extension();
      if (ext != ".err" && ext != ".log") continue;
      std::ifstream f(entry.path());
      std::stringstream ss;
      ss << f.rdbuf();
      std::string text = ss.str();
      if (text.size() > 20000) text = "..." + text.substr(text.size() - 20000);
      std::cerr << "---- " << entry.path().filename().string() << " ----\n" << text;
    }
  }

  /// Extra ntm-dc flags for a test (e.g. a short registration lifetime); `listen` is the
  /// DC's first endpoint (a fixed port lets a restarted DC take over its predecessor's).
  void start_dc(std::vector<std::string> extra = {}, const std::string& listen = "127.0.0.1:0") {
    std::string state = dir_.path() + "/dc";
    {
      Process p({bin("ntm-dc"), "--state-dir", state, "--print-public-key"});
      dc_key_ = p.read_line(std::chrono::seconds(5)).value_or("");
      ASSERT_EQ(p.wait(std::chrono::seconds(5)), 0);
    }
    ASSERT_EQ(dc_key_.size(), 44u);
    std::vector<std::string> argv = {bin("ntm-dc"), "--state-dir", state,
                                     "--listen",    listen,        "--domain",
                                     domain_,       "--port-file", dir_.path() + "/dc.port"};
    // Default pools, unless the test names its own.
    for (auto [flag, pool] : {std::pair{"--vip4-pool", "100.64.0.0/24"},
                              std::pair{"--vip6-pool", "fd00:6e74:6d::/112"}})
      if (std::find(extra.begin(), extra.end(), flag) == extra.end())
        argv.insert(argv.end(), {flag, pool});
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::filesystem::remove(dir_.path() + "/dc.port");  // a restarted DC writes it anew
    dc_ = std::make_unique<Process>(argv, std::map<std::string, std::string>{}, dc_log());
    for (int i = 0; i < 500 && dc_port_ == 0; ++i) {  // up to 10 s on a busy machine
      std::ifstream f(dir_.path() + "/dc.port");
      f >> dc_port_;
      if (!dc_port_) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_NE(dc_port_, 0) << "ntm-dc did not start; log:\n" << read_dc_log();
  }

  std::string dc_log() const { return dir_.path() + "/dc.log"; }
  /// Waits until the DC log holds `text` at least `times` times; false after `timeout`.
  bool wait_for_dc_log(const std::string& text, std::chrono::milliseconds timeout, int times = 1) {
    return wait_for_file_text(dc_log(), text, timeout, times);
  }
  /// Waits until the file at `path` (a DC log, a node's <tmp>/<name>.err) holds `text` at
  /// least `times` times; false after `timeout`.
  static bool wait_for_file_text(const std::string& path, const std::string& text,
                                 std::chrono::milliseconds timeout, int times = 1) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      std::ifstream f(path);
      std::stringstream ss;
      ss << f.rdbuf();
      std::string log = ss.str();
      int n = 0;
      for (size_t at = log.find(text); at != std::string::npos; at = log.find(text, at + 1)) ++n;
      if (n >= times) return true;
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  std::string read_dc_log() const {
    std::ifstream f(dc_log());
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
  }

  /// Environment for a node named `name` (its key in <tmp>/<state>).
  std::map<std::string, std::string> node_env(const std::string& name,
                                              const std::string& state = "",
                                              const std::string& bind = "127.0.0.1:0") {
    return {{"NTM_DC", "127.0.0.1:" + std::to_string(dc_port_)},
            {"NTM_DC_KEY", dc_key_},
            {"NTM_NAME", name},
            {"NTM_STATE_DIR", dir_.path() + "/" + (state.empty() ? name : state)},
            {"NTM_BIND", bind},
            // Registration is a handful of milliseconds, but the DC writes each new binding
            // to SQLite on its event loop: on a machine busy with I/O that took seconds.
            {"NTM_START_TIMEOUT_MS", "30000"}};
  }

  /// Starts `ntm-testnode <args...>` as node `name`; stderr goes to <tmp>/<name>.err.
  std::unique_ptr<Process> node(const std::string& name, std::vector<std::string> args,
                                const std::string& state = "",
                                const std::string& bind = "127.0.0.1:0",
                                std::map<std::string, std::string> extra_env = {}) {
    args.insert(args.begin(), bin("ntm-testnode"));
    auto env = node_env(name, state, bind);
    for (auto& [k, v] : extra_env) env[k] = v;
    return std::make_unique<Process>(args, env, dir_.path() + "/" + name + ".err");
  }

  std::string fqdn(const std::string& name) const { return name + "." + domain_; }

  TempDir dir_;
  std::string domain_ = "it.ntm.test";
  std::string dc_key_;
  uint16_t dc_port_ = 0;
  std::unique_ptr<Process> dc_;
};

/// Parses "key=value key2=value2" into a map.
inline std::map<std::string, std::string> fields(const std::string& line) {
  std::map<std::string, std::string> out;
  std::istringstream in(line);
  std::string tok;
  while (in >> tok) {
    auto eq = tok.find('=');
    if (eq != std::string::npos) out[tok.substr(0, eq)] = tok.substr(eq + 1);
  }
  return out;
}

/// The number in field `key` of a "key=value ..." line; a missing or non-numeric field is a
/// test failure (reported with the line), never an exception.
inline long long number(const std::string& line, const std::string& key) {
  auto f = fields(line);
  auto it = f.find(key);
  if (it == f.end() || it->second.empty() || it->second.size() > 18 ||
      it->second.find_first_not_of("0123456789") != std::string::npos) {
    ADD_FAILURE() << "no number " << key << "= in '" << line << "'";
    return -1;
  }
  return std::stoll(it->second);
}

}  // namespace ntm::test
