// Running ntm-admin against an ntm-as from an integration test (as_test.cpp,
// as_postgres_test.cpp).
#pragma once

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "process.h"

namespace ntm::test {

/// What one ntm-admin run printed and its exit status (-1: it did not exit within 30 s).
struct AdminRun {
  int code = -1;
  std::string out, err;
};

/// ntm-admin `args` against the AS at 127.0.0.1:`port` whose key is `as_key` (base64), with
/// the administrator's key in `dir`/admin (created on first use) and its stderr kept in
/// `dir`/admin.err; `input` goes to its stdin (a password).
inline AdminRun run_admin(const std::string& dir, uint16_t port, const std::string& as_key,
                          std::vector<std::string> args, const std::string& input = "") {
  using namespace std::chrono_literals;
  args.insert(args.begin(), bin("ntm-admin"));
  std::string err_path = dir + "/admin.err";
  std::filesystem::remove(err_path);
  std::map<std::string, std::string> env = {{"NTM_AS", "127.0.0.1:" + std::to_string(port)},
                                            {"NTM_AS_KEY", as_key},
                                            {"NTM_ADMIN_KEY_DIR", dir + "/admin"}};
  Process p(args, env, err_path);
  p.write_stdin(input);
  p.close_stdin();
  AdminRun r;
  while (auto line = p.read_line(30s)) r.out += *line + "\n";
  r.code = p.wait(30s).value_or(-1);
  std::ifstream f(err_path);
  std::stringstream ss;
  ss << f.rdbuf();
  r.err = ss.str();
  return r;
}

}  // namespace ntm::test
