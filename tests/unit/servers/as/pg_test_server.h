// A throwaway PostgreSQL server for the account store tests: initdb into a temporary
// directory, started with pg_ctl from the newest /usr/lib/postgresql/*/bin, listening only on a
// Unix socket in that directory (listen_addresses = ''), run as `nobody` (via runuser) when the
// tests run as root, because postgres refuses root. Started at the first get() of a test
// binary; stopped (pg_ctl stop -m immediate) and its directory removed by a gtest Environment
// after the last test, or at exit.
#pragma once

#include <string>

namespace ntm::as::testing {

class PgTestServer {
 public:
  /// The binary's server, started (at most 30 s of waiting) at the first call.
  static PgTestServer& get();

  /// Non-empty when this machine cannot run a server (no binaries, no unprivileged user):
  /// the PostgreSQL tests skip with this text.
  const std::string& skip_reason() const { return skip_; }
  /// Non-empty when the server should have started but did not (its log inside).
  const std::string& error() const { return error_; }

  /// A new empty database; its libpq conninfo, or "" and `error` set.
  std::string create_database(std::string& error);
  /// Runs `sql` (no parameters) in the `postgres` database as the superuser; "" or the error.
  std::string admin_exec(const std::string& sql);
  /// libpq conninfo of `database` on this server.
  std::string conninfo(const std::string& database) const;

  /// Stops the server and removes its directory; idempotent.
  void stop();

 private:
  PgTestServer();
  void start();
  std::string skip_, error_;
  std::string bin_, dir_;   ///< postgres's bin/ and the temporary directory
  bool as_nobody_ = false;  ///< running as root: every postgres program via runuser
  std::string runuser_;     ///< runuser's path when as_nobody_
  bool running_ = false;
  unsigned databases_ = 0;
};

}  // namespace ntm::as::testing
