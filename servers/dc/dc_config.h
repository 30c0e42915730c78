// ntm-dc configuration: command-line flags and the same keys in a config file
// (Boost.Program_options INI syntax, "key = value"); the command line wins.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "common/cidr.h"

namespace ntm::dc {

struct DcConfig {
  std::vector<std::string> listen;  ///< "ip:port" control endpoints (UDP)
  std::string domain;               ///< DC's DNS domain, e.g. "dc1.ntm.test"
  std::optional<server::Cidr> vip4_pool;
  std::optional<server::Cidr> vip6_pool;
  std::string state_dir;  ///< holds dc.key
  unsigned registration_lifetime_s = 60;
  std::string log_level = "info";
  std::string port_file;  ///< when set, the bound ports are written here
  bool print_public_key = false;
};

/// Parses argv (and --config FILE). Returns nullopt after printing help or an error to
/// stderr; `exit_code` tells main() what to return.
std::optional<DcConfig> parse_config(int argc, char** argv, int& exit_code);

}  // namespace ntm::dc
