#include "servers/as/pg_test_server.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <pwd.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace ntm::as::testing {
namespace {

namespace fs = std::filesystem;

/// The bin/ of the newest PostgreSQL under /usr/lib/postgresql that has initdb and pg_ctl.
std::string newest_bin_dir() {
  std::string best;
  double best_version = -1;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    fs::path bin = e.path() / "bin";
    if (access((bin / "initdb").c_str(), X_OK) != 0 || access((bin / "pg_ctl").c_str(), X_OK) != 0)
      continue;
    double v = std::strtod(e.path().filename().c_str(), nullptr);
    if (v > best_version) best_version = v, best = bin.string();
  }
  return best;
}

std::string read_all(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

/// Runs argv[0] (a full path) with stdout and stderr appended to `log`; its exit status, or -1.
int run(const std::vector<std::string>& args, const std::string& log) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&fa, 1, 2);
  std::vector<char*> argv;
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

PgTestServer* started = nullptr;  // set by the first get()

void stop_started() {
  if (started) started->stop();
}

class StopEnvironment : public ::testing::Environment {
 public:
  void TearDown() override { stop_started(); }
};
// Registered before main() (gtest_main): its TearDown runs after the last test.
[[maybe_unused]] auto* const kEnvironment =
    ::testing::AddGlobalTestEnvironment(new StopEnvironment);

}  // namespace

PgTestServer::PgTestServer() = default;

PgTestServer& PgTestServer::get() {
  static PgTestServer* server = [] {
    started = new PgTestServer;  // never destroyed: stop() runs from TearDown or atexit
    std::atexit(stop_started);
    started->start();
    return started;
  }();
  return *server;
}

void PgTestServer::start() {
  bin_ = newest_bin_dir();
  if (bin_.empty()) {
    skip_ =
        "no PostgreSQL server programs (initdb, pg_ctl) under /usr/lib/postgresql/*/bin; "
        "install the Debian package postgresql to run these tests";
    return;
  }
  uid_t uid = geteuid();
  gid_t gid = getegid();
  if (uid == 0) {
    // postgres refuses to run as root.
    const passwd* pw = getpwnam("nobody");
    if (!pw) {
      skip_ = "running as root and there is no user 'nobody' to run postgres as";
      return;
    }
    for (const char* p : {"/usr/sbin/runuser", "/sbin/runuser", "/usr/bin/runuser"})
      if (access(p, X_OK) == 0) {
        runuser_ = p;
        break;
      }
    if (runuser_.empty()) {
      skip_ = "running as root and there is no runuser to run postgres as 'nobody'";
      return;
    }
    as_nobody_ = true;
    uid = pw->pw_uid;
    gid = pw->pw_gid;
  }
  char tmpl[] = "/tmp/ntm-pg-XXXXXX";
  if (!mkdtemp(tmpl)) {
    error_ = "mkdtemp failed";
    return;
  }
  dir_ = tmpl;
  running_ = true;  // from here stop() cleans up whatever exists
  if (chown(dir_.c_str(), uid, gid) != 0 || chmod(dir_.c_str(), 0700) != 0) {
    error_ = "cannot hand " + dir_ + " to the server's user";
    return;
  }
  auto as_user = [&](std::vector<std::string> args) {
    if (as_nobody_) args.insert(args.begin(), {runuser_, "-u", "nobody", "--"});
    return args;
  };
  std::string data = dir_ + "/data", log = dir_ + "/server.log";
  if (run(as_user({bin_ + "/initdb", "-D", data, "-A", "trust", "-U", "postgres", "-E", "UTF8",
                   "--locale=C", "--no-sync"}),
          dir_ + "/initdb.log") != 0) {
    error_ = "initdb failed:\n" + read_all(dir_ + "/initdb.log");
    return;
  }
  {
    std::ofstream conf(data + "/postgresql.conf", std::ios::app);
    conf << "listen_addresses = ''\n"
         << "unix_socket_directories = '" << dir_ << "'\n"
         << "fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n";
    if (!conf) {
      error_ = "cannot write " + data + "/postgresql.conf";
      return;
    }
  }
  // -w -t 30: pg_ctl waits until the server accepts connections, at most 30 s.
  if (run(as_user({bin_ + "/pg_ctl", "-D", data, "-l", log, "-w", "-t", "30", "start"}),
          dir_ + "/pg_ctl.log") != 0) {
    error_ =
        "PostgreSQL did not start within 30 s:\n" + read_all(dir_ + "/pg_ctl.log") + read_all(log);
    return;
  }
  std::string e = admin_exec("SELECT 1");
  if (!e.empty()) error_ = "PostgreSQL started but does not answer: " + e;
}

std::string PgTestServer::conninfo(const std::string& database) const {
  return "host=" + dir_ + " dbname=" + database + " user=postgres";
}

std::string PgTestServer::admin_exec(const std::string& sql) {
  PGconn* c = PQconnectdb(conninfo("postgres").c_str());
  std::string error;
  if (PQstatus(c) != CONNECTION_OK) {
    error = PQerrorMessage(c);
  } else {
    PGresult* r = PQexec(c, sql.c_str());
    auto st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) error = PQresultErrorMessage(r);
    PQclear(r);
  }
  PQfinish(c);
  return error;
}

std::string PgTestServer::create_database(std::string& error) {
  std::string name = "t" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
  // Where the server has ICU (PostgreSQL 15 and later): a database whose default collation
  // does not sort by bytes ("B" between "a" and "c"), as a production database's often does,
  // so the tests see that the store does not depend on the database's collation.
  error = admin_exec("CREATE DATABASE " + name +
                     " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US'");
  if (!error.empty()) error = admin_exec("CREATE DATABASE " + name);
  return error.empty() ? conninfo(name) : "";
}

void PgTestServer::stop() {
  if (!running_) return;
  running_ = false;
  std::string data = dir_ + "/data";
  if (fs::exists(data + "/postmaster.pid")) {
    std::vector<std::string> args{bin_ + "/pg_ctl", "-D", data, "-m", "immediate", "-w", "stop"};
    if (as_nobody_) args.insert(args.begin(), {runuser_, "-u", "nobody", "--"});
    run(args, "/dev/null");
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

}  // namespace ntm::as::testing
