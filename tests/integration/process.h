// Child processes for integration tests: spawned with a given environment, stdout read line
// by line with a timeout, killed (SIGKILL after SIGTERM) when the object goes away, so a
// failing test never leaves a daemon behind.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ntm::test {

class Process {
 public:
  /// Starts `argv[0]` (a path) with the current environment plus `env`. stderr goes to
  /// `stderr_path` when set (for post-mortem), else it is inherited.
  Process(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
          std::string stderr_path = {});
  ~Process();
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  /// The next line of stdout (without '\n'), or nullopt on EOF or timeout.
  std::optional<std::string> read_line(std::chrono::milliseconds timeout);
  /// Reads lines until one starts with `prefix`; returns it, or nullopt.
  std::optional<std::string> wait_for_line(const std::string& prefix,
                                           std::chrono::milliseconds timeout);
  /// Writes to the child's stdin; close_stdin() sends EOF.
  void write_stdin(const std::string& data);
  void close_stdin();
  /// Waits for exit; returns the exit status (or 128+signal), nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  void signal(int sig);
  /// Freezes the process: SIGSTOP, then waits until all its threads have stopped. kill(2)
  /// returns before that, and until the thread that takes the signal runs, the others go on
  /// (measured under load: up to 10 ms, time enough to receive and acknowledge 100 kB).
  /// False if it did not stop within `timeout` (or exited meanwhile).
  bool freeze(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
  /// Lets a frozen process run again (SIGCONT).
  void thaw() { signal(SIGCONT); }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1, in_fd_ = -1;
  std::string buf_;
  std::optional<int> status_;
};

/// Path of a built executable (tests get NTM_BIN_DIR from CMake).
std::string bin(const std::string& name);
/// A fresh temporary directory removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};
/// A UDP port on 127.0.0.1 that was free a moment ago.
uint16_t free_udp_port();
/// Datagrams the kernel dropped for the IPv4 UDP socket bound to 127.0.0.1:`port` before its
/// server read them (/proc/net/udp, last column); -1 when there is no such socket.
long kernel_udp_drops(uint16_t port);

}  // namespace ntm::test
