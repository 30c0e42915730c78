#include "as/postgres_store.h"

#include <libpq-fe.h>
#include <spdlog/spdlog.h>

#include <charconv>
#include <cstring>
#include <ctime>
#include <initializer_list>
#include <limits>

namespace ntm::as {
namespace {

// Taken (pg_advisory_xact_lock) while the schema is created: two AS processes starting at
// once would otherwise race in CREATE TABLE IF NOT EXISTS (a unique violation in pg_type).
constexpr const char* kSchema =
    "BEGIN;"
    "SELECT pg_advisory_xact_lock(7959106483146391552);"  // "ntm-as\0\0" as a big-endian int64
    "CREATE TABLE IF NOT EXISTS accounts(name TEXT COLLATE \"C\" PRIMARY KEY,"
    " hash TEXT NOT NULL, node_limit BIGINT NOT NULL, created BIGINT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS nodes(account TEXT COLLATE \"C\" NOT NULL"
    " REFERENCES accounts(name) ON DELETE CASCADE, node TEXT COLLATE \"C\" NOT NULL,"
    " first_login BIGINT NOT NULL, last_login BIGINT NOT NULL, PRIMARY KEY(account, node));"
    "COMMIT;"
    // Tables of these names made by something else fail here, not at the first login.
    "SELECT name, hash, node_limit, created FROM accounts LIMIT 0;"
    "SELECT account, node, first_login, last_login FROM nodes LIMIT 0;";

constexpr int kSerializationRetries = 5;

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Res = std::unique_ptr<PGresult, ResultDeleter>;

int64_t int_at(const PGresult* r, int row, int col) {
  const char* p = PQgetvalue(r, row, col);
  int64_t v = 0;
  std::from_chars(p, p + std::strlen(p), v);
  return v;
}

std::string text_at(const PGresult* r, int row, int col) {
  return std::string(PQgetvalue(r, row, col), size_t(PQgetlength(r, row, col)));
}

/// libpq's message on one line: its line breaks (and the tab of a HINT line) made spaces, the
/// trailing ones dropped.
std::string trimmed(const char* msg) {
  std::string s;
  for (const char* p = msg ? msg : ""; *p; ++p) {
    bool space = *p == '\n' || *p == '\r' || *p == '\t';
    if (space && (s.empty() || s.back() == ' ')) continue;
    s.push_back(space ? ' ' : *p);
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

class PostgresStore : public AccountStore {
 public:
  explicit PostgresStore(PGconn* conn) : conn_(conn) {}
  ~PostgresStore() override { PQfinish(conn_); }

  Result add(const Account& a) override {
    int64_t created = a.created ? a.created : int64_t(std::time(nullptr));
    return run("add", Result::kError, [&] {
      Res r = exec("add",
                   "INSERT INTO accounts(name, hash, node_limit, created) VALUES($1, $2, $3, $4)",
                   {a.name, a.password_hash, std::to_string(a.node_limit), std::to_string(created)},
                   kUniqueViolation);
      if (r) return Result::kOk;
      return state_ == kUniqueViolation ? Result::kExists : Result::kError;
    });
  }

  Result remove(const std::string& name) override {
    // One statement: the account's nodes go with it (ON DELETE CASCADE).
    return run("remove", Result::kError, [&] {
      Res r = exec("remove", "DELETE FROM accounts WHERE name = $1", {name});
      if (!r) return Result::kError;
      return changed(r) ? Result::kOk : Result::kNotFound;
    });
  }

  Result set_password_hash(const std::string& name, const std::string& hash) override {
    return run("set_password_hash", Result::kError, [&] {
      Res r =
          exec("set_password_hash", "UPDATE accounts SET hash = $1 WHERE name = $2", {hash, name});
      if (!r) return Result::kError;
      return changed(r) ? Result::kOk : Result::kNotFound;
    });
  }

  std::optional<Account> find(const std::string& name, Result* status = nullptr) override {
    Result ignored;
    Result& st = status ? *status : ignored;
    st = Result::kError;  // also when run() gives up without calling the body
    return run("find", std::optional<Account>(), [&]() -> std::optional<Account> {
      st = Result::kError;
      Res r = exec("find", "SELECT name, hash, node_limit, created FROM accounts WHERE name = $1",
                   {name});
      if (!r) return std::nullopt;
      if (PQntuples(r.get()) != 1) {
        st = Result::kNotFound;
        return std::nullopt;
      }
      st = Result::kOk;
      return account_at(r.get(), 0);
    });
  }

  std::vector<Account> list(const std::string& after, size_t limit) override {
    return run("list", std::vector<Account>(), [&] {
      std::vector<Account> out;
      Res r = exec("list",
                   "SELECT name, hash, node_limit, created FROM accounts WHERE name > $1 "
                   "ORDER BY name LIMIT $2",
                   {after, limit_text(limit)});
      if (!r) return out;
      for (int i = 0; i < PQntuples(r.get()); ++i) out.push_back(account_at(r.get(), i));
      return out;
    });
  }

  Attach attach_node(const std::string& account, const std::string& node, int64_t now,
                     int64_t release_after) override {
    return run("attach_node", Attach{}, [&] {
      Attach out;
      Transaction t(*this, "attach_node", "BEGIN ISOLATION LEVEL READ COMMITTED");
      if (!t) return out;
      // The account's row lock: attaches to one account, from any connection, run one at a
      // time from here to COMMIT, so the count below stays true until our insert commits.
      Res limit = exec("attach_node", "SELECT node_limit FROM accounts WHERE name = $1 FOR UPDATE",
                       {account});
      if (!limit) return out;
      if (PQntuples(limit.get()) == 0) {
        out.result = Result::kNotFound;
        return out;
      }
      out.node_limit = uint32_t(int_at(limit.get(), 0, 0));
      // Nodes not seen within the window no longer count: forget them.
      std::string now_text = std::to_string(now);
      if (!exec("attach_node", "DELETE FROM nodes WHERE account = $1 AND last_login < $2",
                {account, std::to_string(now - release_after)}))
        return out;
      Res count = exec("attach_node",
                       "SELECT COUNT(*), COUNT(*) FILTER (WHERE node = $2) FROM nodes "
                       "WHERE account = $1",
                       {account, node});
      if (!count || PQntuples(count.get()) != 1) return out;
      int64_t counted = int_at(count.get(), 0, 0);
      bool attached = int_at(count.get(), 0, 1) > 0;
      if (!attached && counted >= int64_t(out.node_limit)) {
        out.result = Result::kLimitReached;  // rolled back: nothing changes
        out.counted = uint32_t(counted);
        return out;
      }
      if (!exec("attach_node",
                attached ? "UPDATE nodes SET last_login = $3 WHERE account = $1 AND node = $2"
                         : "INSERT INTO nodes(account, node, first_login, last_login) "
                           "VALUES($1, $2, $3, $3)",
                {account, node, now_text}) ||
          !t.commit())
        return out;
      out.result = Result::kOk;
      out.counted = uint32_t(counted + (attached ? 0 : 1));
      return out;
    });
  }

  std::optional<std::vector<NodeRecord>> list_nodes(const std::string& account,
                                                    const std::string& after,
                                                    size_t limit) override {
    using Out = std::optional<std::vector<NodeRecord>>;
    return run("list_nodes", Out(), [&]() -> Out {
      // One snapshot: the account and its nodes.
      Transaction t(*this, "list_nodes", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      if (!t) return std::nullopt;
      Res a = exec("list_nodes", "SELECT 1 FROM accounts WHERE name = $1", {account});
      if (!a || PQntuples(a.get()) == 0) return std::nullopt;
      Res r = exec("list_nodes",
                   "SELECT node, first_login, last_login FROM nodes WHERE account = $1 AND "
                   "node > $2 ORDER BY node LIMIT $3",
                   {account, after, limit_text(limit)});
      if (!r || !t.commit()) return std::nullopt;
      std::vector<NodeRecord> out;
      for (int i = 0; i < PQntuples(r.get()); ++i)
        out.push_back({text_at(r.get(), i, 0), int_at(r.get(), i, 1), int_at(r.get(), i, 2)});
      return out;
    });
  }

  Result release_node(const std::string& account, const std::string& node) override {
    return run("release_node", Result::kError, [&] {
      Res r = exec("release_node", "DELETE FROM nodes WHERE account = $1 AND node = $2",
                   {account, node});
      if (!r) return Result::kError;
      return changed(r) ? Result::kOk : Result::kNotFound;
    });
  }

 private:
  static constexpr const char* kUniqueViolation = "23505";

  /// How the last exec() failed.
  enum class Failure { kNone, kConnection, kRetry, kOther };

  /// Runs `body` (which returns `failed` or the like when an exec() fails) with the retries
  /// the header promises: after a serialization failure or deadlock up to
  /// kSerializationRetries more times; after a lost connection once more, on a connection
  /// PQreset re-opened.
  template <class T, class F>
  T run(const char* what, T failed, F&& body) {
    bool reset = false;
    for (int retries = 0;;) {
      if (PQstatus(conn_) != CONNECTION_OK) {
        if (reset || !reconnect(what)) return failed;
        reset = true;
      }
      failure_ = Failure::kNone;
      T out = body();
      if (failure_ == Failure::kRetry && retries < kSerializationRetries) {
        ++retries;
        spdlog::debug("postgres: {}: serialization failure or deadlock, retry {}", what, retries);
        continue;
      }
      if (failure_ == Failure::kRetry)
        spdlog::error("postgres: {}: serialization failure or deadlock {} times, giving up", what,
                      retries + 1);
      if (failure_ == Failure::kConnection) {
        if (!reset) {
          reset = true;
          if (reconnect(what)) continue;
        } else {
          spdlog::error("postgres: {}: the connection was lost again after reconnecting", what);
        }
      }
      return out;
    }
  }

  bool reconnect(const char* what) {
    spdlog::warn("postgres: {}: reconnecting", what);
    PQreset(conn_);
    if (PQstatus(conn_) == CONNECTION_OK) return true;
    spdlog::error("postgres: {}: reconnect failed: {}", what, trimmed(PQerrorMessage(conn_)));
    return false;
  }

  /// Runs one parameterized statement (text parameters: numbers in decimal). The result on
  /// success (PGRES_COMMAND_OK or PGRES_TUPLES_OK); otherwise nullptr with state_ (SQLSTATE,
  /// "" when none) and failure_ set, logged unless its SQLSTATE is `expected`.
  Res exec(const char* what, const char* sql, std::initializer_list<std::string> params,
           const char* expected = nullptr) {
    state_.clear();
    const char* values[8];
    int n = 0;
    for (const auto& p : params) {
      if (p.find('\0') != std::string::npos) {
        spdlog::error("postgres: {}: a value has a NUL byte; not stored", what);
        failure_ = Failure::kOther;
        return nullptr;
      }
      values[n++] = p.c_str();
    }
    Res r(PQexecParams(conn_, sql, n, nullptr, values, nullptr, nullptr, 0));
    ExecStatusType st = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return r;
    const char* code = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
    state_ = code ? code : "";
    if (PQstatus(conn_) != CONNECTION_OK || state_.rfind("08", 0) == 0)
      failure_ = Failure::kConnection;
    else if (state_ == "40001" || state_ == "40P01")
      failure_ = Failure::kRetry;
    else
      failure_ = Failure::kOther;
    if (expected && state_ == expected) return nullptr;
    // The server's primary message only: its DETAIL ("Failing row contains (...)") and
    // CONTEXT (the parameters, with log_parameter_max_length_on_error) may quote the values,
    // a password hash among them. Without a result (a lost connection): libpq's message.
    const char* primary = r ? PQresultErrorField(r.get(), PG_DIAG_MESSAGE_PRIMARY) : nullptr;
    std::string msg = trimmed(primary ? primary : PQerrorMessage(conn_));
    if (failure_ == Failure::kRetry)
      spdlog::debug("postgres: {}: {} (SQLSTATE {})", what, msg, state_);
    else if (failure_ == Failure::kConnection)  // run() reconnects, or logs an error
      spdlog::warn("postgres: {}: connection lost: {}", what, msg);
    else
      spdlog::error("postgres: {}: {}{}{}", what, msg, state_.empty() ? "" : " SQLSTATE ", state_);
    return nullptr;
  }

  static bool changed(const Res& r) {
    const char* n = PQcmdTuples(r.get());
    return n && *n && std::strcmp(n, "0") != 0;
  }

  static std::string limit_text(size_t limit) {
    constexpr auto kMax = uint64_t(std::numeric_limits<int64_t>::max());
    return std::to_string(uint64_t(limit) > kMax ? kMax : uint64_t(limit));
  }

  static Account account_at(const PGresult* r, int row) {
    Account a;
    a.name = text_at(r, row, 0);
    a.password_hash = text_at(r, row, 1);
    a.node_limit = uint32_t(int_at(r, row, 2));
    a.created = int_at(r, row, 3);
    return a;
  }

  /// BEGIN ...; rolled back unless committed (an aborted transaction too).
  class Transaction {
   public:
    Transaction(PostgresStore& s, const char* what, const char* begin) : s_(s), what_(what) {
      ok_ = bool(s_.exec(what_, begin, {}));
    }
    ~Transaction() {
      if (ok_ && PQstatus(s_.conn_) == CONNECTION_OK) Res(PQexec(s_.conn_, "ROLLBACK"));
    }
    explicit operator bool() const { return ok_; }
    bool commit() {
      // COMMIT of a transaction that failed answers ROLLBACK; exec() checked every statement,
      // so here it fails only by the server (a serialization failure, a lost connection).
      Res r = s_.exec(what_, "COMMIT", {});
      ok_ = false;
      return bool(r);
    }

   private:
    PostgresStore& s_;
    const char* what_;
    bool ok_ = false;
  };

  PGconn* conn_;
  Failure failure_ = Failure::kNone;
  std::string state_;  ///< SQLSTATE of the last failed exec()
};

}  // namespace

std::unique_ptr<AccountStore> open_postgres_store(const std::string& conninfo, std::string& error) {
  PGconn* conn = PQconnectdb(conninfo.c_str());
  if (!conn) {
    error = "cannot connect to PostgreSQL: out of memory";
    return nullptr;
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    error = "cannot connect to PostgreSQL: " + trimmed(PQerrorMessage(conn));
    PQfinish(conn);
    return nullptr;
  }
  // Our own notices (CREATE TABLE IF NOT EXISTS "already exists, skipping") stay out of
  // stderr.
  PQsetNoticeProcessor(
      conn, [](void*, const char*) {}, nullptr);
  // PQexec: several statements in one string, without parameters (none take user data).
  Res r(PQexec(conn, kSchema));
  if (!r || PQresultStatus(r.get()) != PGRES_TUPLES_OK) {
    error = "cannot set up the PostgreSQL schema (accounts, nodes): " +
            trimmed(r ? PQresultErrorMessage(r.get()) : PQerrorMessage(conn));
    PQfinish(conn);
    return nullptr;
  }
  return std::make_unique<PostgresStore>(conn);
}

}  // namespace ntm::as
