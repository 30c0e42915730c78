// The Account Server's accounts in PostgreSQL (libpq), so that several ntm-as processes, on
// one host or several, share one database (docs/admin.md, "Several AS hosts on one
// PostgreSQL database").
#pragma once

#include <memory>
#include <string>

#include "as/account_store.h"

namespace ntm::as {

/// Connects with libpq's `conninfo` ("host=db.example.net dbname=ntm user=ntm_as", or a
/// postgresql:// URI; https://www.postgresql.org/docs/current/libpq-connect.html) and creates
/// the tables if absent (accounts, nodes: the SQLite store's columns; text in the "C"
/// collation, so names and node identities sort by their bytes; a node row goes with its
/// account by a foreign key ON DELETE CASCADE). The same contract as open_sqlite_store, every
/// method as account_store.h says, with these PostgreSQL specifics:
/// - every write is committed before the call returns (the server's synchronous_commit says
///   how durable a commit is);
/// - attach_node is one READ COMMITTED transaction that locks the account's row first
///   (SELECT ... FOR UPDATE): attaches to one account from several connections (several AS
///   processes) run one after the other and never exceed its node limit. A serialization
///   failure or deadlock (SQLSTATE 40001, 40P01), in any call, is retried up to 5 times;
/// - a lost connection is re-opened (PQreset) once per call and the call run again; when that
///   fails too the call reports kError (nullopt, an empty list). A write whose commit
///   succeeded but whose answer was lost with the connection answers as its second run finds
///   the data (add: kExists);
/// - failures are logged (spdlog, error level) with the server's primary message and SQLSTATE
///   (its DETAIL and CONTEXT, which may quote a password hash, are left out), or libpq's
///   message when the connection failed. A value with a NUL byte, or bytes not valid in the
///   database's encoding (UTF-8: not UTF-8), cannot be stored or compared: kError (nullopt, an
///   empty list) and a log line;
/// - the calls block on the server (set connect_timeout and options='-c statement_timeout=MS'
///   in `conninfo` to bound them).
/// nullptr and `error` set (libpq's message) when the connection or the schema fails.
/// Not thread-safe: one thread uses a store (ntm-as: its io thread); open one per thread.
std::unique_ptr<AccountStore> open_postgres_store(const std::string& conninfo, std::string& error);

}  // namespace ntm::as
