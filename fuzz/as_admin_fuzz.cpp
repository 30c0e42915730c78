// Fuzz target: the AS's request path after the session is open (servers/as/):
// AdminMessage::decode, then AdminServer::handle for a listed admin key, a listed DC key and
// an unlisted key, against a real SQLite store in a temporary file (cheap Argon2id cost, the
// hashing on the server's worker pool, the io_context run until the answer is in).
//
// Invariants beyond "no crash": decoding is lossless (re-encoding gives the same bytes); every
// request gets exactly one response, which keeps the request's ID and op, encodes within
// kMaxSize and decodes again; an unlisted key gets kNotAuthorized and changes nothing; the
// admin key gets kNotAuthorized for the DC ops (0x10 and up), the DC key for the others.
#include <unistd.h>

#include <asio/io_context.hpp>
#include <cstdint>
#include <filesystem>

#include "as/admin_server.h"
#include "fuzz_support.h"

using namespace ntm;

namespace {

struct World {
  World() {
    char tmpl[] = "/tmp/ntm-fuzz-as-XXXXXX";
    dir = mkdtemp(tmpl);
    std::string error;
    store = as::open_sqlite_store(dir + "/accounts.sqlite3", error);
    FUZZ_CHECK(store);
    admin.fill(7);
    dc.fill(8);
    stranger.fill(9);
    cfg.admin_keys = {admin};
    cfg.dc_keys = {dc};
    cfg.hash_threads = 1;
    cfg.password_cost = {1, 8192};  // libsodium's minimum: the target is the parsing
    server = std::make_unique<as::AdminServer>(io, cfg, key, *store);
    store->add({"alice", *as::hash_password("alice-password", cfg.password_cost), 2, 1});
  }
  ~World() { std::filesystem::remove_all(dir); }
  std::string dir;
  asio::io_context io;
  as::AsConfig cfg;
  crypto::StaticKeyPair key{};
  crypto::Key admin{}, dc{}, stranger{};
  std::unique_ptr<as::AccountStore> store;
  std::unique_ptr<as::AdminServer> server;
};

/// The one response to `m` from `peer`, the io_context run until it is in.
as::AdminMessage answer(World& w, const crypto::Key& peer, const as::AdminMessage& m) {
  int replies = 0;
  as::AdminMessage out;
  w.server->handle(peer, m, [&](const as::AdminMessage& r) {
    ++replies;
    out = r;
  });
  w.io.restart();
  w.io.run();
  FUZZ_CHECK(replies == 1);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  auto m = as::AdminMessage::decode(proto::ByteView(data, size));
  if (!m) return 0;
  FUZZ_CHECK(m->encode() == proto::Bytes(data, data + size));
  if (m->is_response()) return 0;  // the AS drops responses before handle()

  size_t before = w.store->list("", 1000).size();
  FUZZ_CHECK(answer(w, w.stranger, *m).status == as::AdminStatus::kNotAuthorized);
  FUZZ_CHECK(w.store->list("", 1000).size() == before);
  bool dc_op = m->op >= as::kFirstDcOp;
  auto r = answer(w, dc_op ? w.dc : w.admin, *m);
  FUZZ_CHECK(answer(w, dc_op ? w.admin : w.dc, *m).status == as::AdminStatus::kNotAuthorized);
  FUZZ_CHECK(r.id == m->id && r.op == (m->op | 0x80));
  proto::Bytes wire = r.encode();
  FUZZ_CHECK(!wire.empty() && wire.size() <= as::AdminMessage::kMaxSize);
  auto again = as::AdminMessage::decode(wire);
  FUZZ_CHECK(again && again->status == r.status && again->fields == r.fields);
  // Keep the store small and alice in it, so that inputs stay independent enough.
  if (before > 50)
    for (auto& a : w.store->list("", 1000))
      if (a.name != "alice") w.store->remove(a.name);
  if (!w.store->find("alice"))
    w.store->add({"alice", *as::hash_password("alice-password", w.cfg.password_cost), 2, 1});
  return 0;
}
