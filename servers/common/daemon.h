// What every NTM daemon (ntm-dc, ntm-as, and the servers still to come) does the same way:
// read a config file plus command-line flags, write the ports it bound, and stop or reload on
// signals with its counters in the log.
#pragma once

#include <asio/io_context.hpp>
#include <asio/signal_set.hpp>
#include <boost/program_options.hpp>
#include <functional>
#include <string>
#include <vector>

namespace ntm::server {

/// Parses argv and, when --config FILE is given, the file (INI syntax, "key = value"; a key
/// repeated gives several values) into `vm`. `cli` holds the command-line-only options (it
/// gets --help and --config here), `opts` the ones allowed in both places; the command line
/// wins. Returns false after printing help (exit_code 0) or an error (exit_code 2) to stderr.
bool parse_options(const std::string& daemon, const std::string& usage, int argc, char** argv,
                   boost::program_options::options_description& cli,
                   const boost::program_options::options_description& opts,
                   boost::program_options::variables_map& vm, int& exit_code);

/// Adds the options every daemon takes to `opts`: log-level (trace, debug, info, warn, error;
/// default info) into `log_level` and port-file into `port_file`.
void add_daemon_options(boost::program_options::options_description& opts, std::string& log_level,
                        std::string& port_file);

/// setup_logging() for `daemon` at `level`; on an unknown level prints
/// "<daemon>: unknown log level <level>" to stderr and returns false (exit with status 2).
bool start_logging(const std::string& daemon, const std::string& level);

/// Writes `ports`, one per line, to `path` atomically (a temporary file renamed): a reader
/// never sees a partial list. Does nothing when `path` is empty. The file tells a supervisor
/// (or a test) that the daemon is up: write it only once the SignalHandler exists, so a
/// SIGTERM sent as soon as it appears stops the daemon cleanly (exit 0) instead of killing it.
void write_port_file(const std::string& path, const std::vector<uint16_t>& ports);

/// SIGTERM and SIGINT: logs "stopping on signal N: <counters()>" and stops `io`. SIGHUP: logs
/// "<counters()>" and calls `reload` (when set), then waits for the next signal.
class SignalHandler {
 public:
  SignalHandler(asio::io_context& io, std::function<std::string()> counters,
                std::function<void()> reload = {});

 private:
  void wait();
  asio::io_context& io_;
  asio::signal_set signals_;
  std::function<std::string()> counters_;
  std::function<void()> reload_;
};

}  // namespace ntm::server
