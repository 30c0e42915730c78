// Fuzz target: the AS's admin request path after the session is open (servers/as/):
// AdminMessage::decode, then AdminServer::handle for a listed admin key and for an unlisted
// one, against a real SQLite store in a temporary file (cheap Argon2id cost).
//
// Invariants beyond "no crash": decoding is lossless (re-encoding gives the same bytes); a
// response keeps the request's ID and op, encodes within kMaxSize and decodes again; an
// unlisted key gets kNotAuthorized and changes nothing.
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
    stranger.fill(9);
    cfg.admin_keys = {admin};
    cfg.password_cost = {1, 8192};  // libsodium's minimum: the target is the parsing
    server = std::make_unique<as::AdminServer>(io, cfg, key, *store);
    store->add({"alice", *as::hash_password("alice-password", cfg.password_cost), 2, 1});
  }
  ~World() { std::filesystem::remove_all(dir); }
  std::string dir;
  asio::io_context io;
  as::AsConfig cfg;
  crypto::StaticKeyPair key{};
  crypto::Key admin{}, stranger{};
  std::unique_ptr<as::AccountStore> store;
  std::unique_ptr<as::AdminServer> server;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World w;
  auto m = as::AdminMessage::decode(proto::ByteView(data, size));
  if (!m) return 0;
  FUZZ_CHECK(m->encode() == proto::Bytes(data, data + size));
  if (m->is_response()) return 0;  // the AS drops responses before handle()

  size_t before = w.store->list("", 1000).size();
  auto refused = w.server->handle(w.stranger, *m);
  FUZZ_CHECK(refused.status == as::AdminStatus::kNotAuthorized);
  FUZZ_CHECK(w.store->list("", 1000).size() == before);

  auto r = w.server->handle(w.admin, *m);
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
