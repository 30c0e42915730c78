// AS logins per second (issue 11), for bench/as_logins.sh: plays a DC that relays node logins
// to an ntm-as (servers/dc/as_client.h, docs/protocol.md §14 op 0x10), keeping a number of
// logins in flight for a while, and counts the answers. Beside it, in the same run, the
// reference: Argon2id verifications per second (libsodium crypto_pwhash_str_verify) of a hash
// made with the AS's cost, on as many threads as the AS hashes with — what the AS cannot beat.
//
//   ntm-as-logins --as IP:PORT --as-key KEY --key-dir DIR --account NAME --password-file F
//                 [--seconds S] [--inflight N] [--threads T] [--ops O] [--mem-mib M]
// prints "reference verifies_per_s=X threads=T" then "logins ok=N other=N seconds=S per_s=X".
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <asio/io_context.hpp>
#include <atomic>
#include <boost/program_options.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "as/account_store.h"
#include "crypto/static_key.h"
#include "dc/as_client.h"

namespace po = boost::program_options;
using namespace ntm;
using Clock = std::chrono::steady_clock;

int main(int argc, char** argv) {
  std::string as, as_key_text, key_dir, account, password_file;
  double seconds = 5;
  unsigned inflight = 16, threads = 2;
  unsigned long long ops = 2;
  size_t mem_mib = 64;
  po::options_description opts("ntm-as-logins");
  opts.add_options()("as", po::value(&as)->required(), "the AS's admin endpoint, IP:PORT")(
      "as-key", po::value(&as_key_text)->required(), "the AS's static public key")(
      "key-dir", po::value(&key_dir)->required(), "this DC's key directory (dc.key)")(
      "account", po::value(&account)->required(), "the account to log in to")(
      "password-file", po::value(&password_file)->required(), "its password")(
      "seconds", po::value(&seconds), "how long to keep logins in flight")(
      "inflight", po::value(&inflight), "logins in flight at once")(
      "threads", po::value(&threads), "threads of the Argon2id reference (the AS's hash-threads)")(
      "ops", po::value(&ops), "Argon2id passes of the reference (the AS's pwhash-ops)")(
      "mem-mib", po::value(&mem_mib), "Argon2id memory of the reference (pwhash-mem-mib)");
  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, opts), vm);
    po::notify(vm);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ntm-as-logins: %s\n%s", e.what(),
                 (std::ostringstream() << opts).str().c_str());
    return 2;
  }
  if (sodium_init() < 0) return 1;
  spdlog::set_level(spdlog::level::warn);
  std::string password;
  std::getline(std::ifstream(password_file), password);
  auto as_ep = proto::Endpoint::parse(as);
  auto as_key = crypto::key_from_base64(as_key_text);
  std::string error;
  auto key = crypto::load_or_create_key(key_dir, "dc.key", error);
  if (!as_ep || !as_key || !key) {
    std::fprintf(stderr, "ntm-as-logins: bad --as, --as-key or key: %s\n", error.c_str());
    return 2;
  }

  // The reference: verifications of a hash of the AS's cost, `threads` at once.
  auto hash = as::hash_password(password, {ops, mem_mib << 20});
  if (!hash) return 1;
  std::atomic<uint64_t> verified{0};
  auto ref_end = Clock::now() + std::chrono::duration<double>(seconds);
  auto ref_start = Clock::now();
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; ++t)
    pool.emplace_back([&] {
      while (Clock::now() < ref_end)
        if (as::verify_password(*hash, password)) verified.fetch_add(1);
    });
  for (auto& t : pool) t.join();
  double ref_s = std::chrono::duration<double>(Clock::now() - ref_start).count();
  std::printf("reference verifies_per_s=%.2f threads=%u\n", double(verified) / ref_s, threads);
  std::fflush(stdout);

  // Logins through the AS channel, `inflight` at once, for `seconds`.
  asio::io_context io;
  dc::AsClient client(io, *key, *as_key, *as_ep, std::chrono::milliseconds(30000));
  if (!client.open(error)) {
    std::fprintf(stderr, "ntm-as-logins: %s\n", error.c_str());
    return 1;
  }
  crypto::Key node{};
  node.fill(0x4e);  // one node identity: counted once against the account's node limit
  // Each login from another node address: the AS limits attempts per source (20, then 1/s),
  // which a real DC's many nodes do not share.
  uint32_t next_source = 0;
  auto source = [&] {
    uint32_t n = next_source++;
    return *proto::Endpoint::parse("10." + std::to_string((n >> 16) & 255) + "." +
                                   std::to_string((n >> 8) & 255) + "." + std::to_string(n & 255) +
                                   ":40000");
  };
  uint64_t ok = 0, other = 0;
  auto start = Clock::now();
  auto end = start + std::chrono::duration<double>(seconds);
  std::function<void()> one = [&] {
    client.login(account, password, node, source(), [&](dc::AsClient::Result r) {
      (r == dc::AsClient::Result::kOk ? ok : other)++;
      if (Clock::now() < end) one();
    });
  };
  for (unsigned i = 0; i < inflight; ++i) one();
  while (client.waiting() > 0 && Clock::now() < end + std::chrono::seconds(30))
    io.run_for(std::chrono::milliseconds(50));
  double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("logins ok=%llu other=%llu seconds=%.2f per_s=%.2f\n", (unsigned long long)ok,
              (unsigned long long)other, took, double(ok) / took);
  return ok > 0 ? 0 : 1;
}
