#include "common/daemon.h"

#include "common/logging.h"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>

namespace po = boost::program_options;

namespace ntm::server {

bool parse_options(const std::string& daemon, const std::string& usage, int argc, char** argv,
                   po::options_description& cli, const po::options_description& opts,
                   po::variables_map& vm, int& exit_code) {
  cli.add_options()("help,h", "show this help")("config,c", po::value<std::string>(),
                                                "config file (same keys as the long options)");
  po::options_description all;
  all.add(cli).add(opts);
  try {
    po::store(po::parse_command_line(argc, argv, all), vm);
    if (vm.count("config")) {
      std::ifstream f(vm["config"].as<std::string>());
      if (!f) {
        std::cerr << daemon << ": cannot read config file " << vm["config"].as<std::string>()
                  << "\n";
        exit_code = 2;
        return false;
      }
      po::store(po::parse_config_file(f, opts), vm);
    }
    po::notify(vm);
  } catch (const po::error& e) {
    std::cerr << daemon << ": " << e.what() << "\n";
    exit_code = 2;
    return false;
  }
  if (vm.count("help")) {
    std::cout << "Usage: " << usage << "\n\n" << all << "\n";
    exit_code = 0;
    return false;
  }
  return true;
}

void add_daemon_options(po::options_description& opts, std::string& log_level,
                        std::string& port_file) {
  opts.add_options()("log-level", po::value(&log_level)->default_value("info"),
                     "trace, debug, info, warn, error")(
      "port-file", po::value(&port_file),
      "write the bound UDP ports here, one per line (for --listen with port 0)");
}

bool start_logging(const std::string& daemon, const std::string& level) {
  if (setup_logging(daemon, level)) return true;
  std::cerr << daemon << ": unknown log level " << level << "\n";
  return false;
}

void write_port_file(const std::string& path, const std::vector<uint16_t>& ports) {
  if (path.empty()) return;
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp);
    for (auto p : ports) f << p << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

SignalHandler::SignalHandler(asio::io_context& io, std::function<std::string()> counters,
                             std::function<void()> reload)
    : io_(io),
      signals_(io, SIGINT, SIGTERM, SIGHUP),
      counters_(std::move(counters)),
      reload_(std::move(reload)) {
  wait();
}

void SignalHandler::wait() {
  signals_.async_wait([this](std::error_code ec, int sig) {
    if (ec) return;
    if (sig == SIGHUP) {
      spdlog::info("SIGHUP: {}", counters_());
      if (reload_) reload_();
      return wait();
    }
    spdlog::info("stopping on signal {}: {}", sig, counters_());
    io_.stop();
  });
}

}  // namespace ntm::server
