// Shared by the fuzz targets and the seed generator: a checked assertion that survives NDEBUG,
// reproducible randomness, and the fixed keys the targets and their seeds agree on.
#pragma once

#include <sodium.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "crypto/aead.h"
#include "proto/bytes.h"

/// Aborts (a crash for libFuzzer and the standalone driver) when an invariant does not hold.
#define FUZZ_CHECK(cond)                                                                     \
  do {                                                                                       \
    if (!(cond)) {                                                                           \
      std::fprintf(stderr, "%s:%d: fuzz invariant failed: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                          \
    }                                                                                        \
  } while (0)

namespace ntm::fuzz {

/// libsodium's randomness replaced by a ChaCha20 stream that restarts at every input, so an
/// input that crashes does so again with the same ephemeral keys and indices. Call at the top of
/// every LLVMFuzzerTestOneInput (the first call installs it, before sodium_init()).
inline void deterministic_randomness() {
  struct Stream {
    static uint64_t& position() {
      static uint64_t p = 0;
      return p;
    }
    static const char* name() { return "ntm-fuzz-deterministic"; }
    static void buf(void* out, size_t n) {
      uint8_t seed[randombytes_SEEDBYTES] = {'n', 't', 'm', '-', 'f', 'u', 'z', 'z'};
      uint64_t p = position()++;
      std::memcpy(seed + 8, &p, sizeof p);
      randombytes_buf_deterministic(out, n, seed);
    }
    static uint32_t random() {
      uint32_t v;
      buf(&v, sizeof v);
      return v;
    }
    static uint32_t uniform(uint32_t upper) { return upper < 2 ? 0 : random() % upper; }
  };
  static randombytes_implementation impl = {Stream::name,    Stream::random, nullptr,
                                            Stream::uniform, Stream::buf,    nullptr};
  static bool installed = [] {
    randombytes_set_implementation(&impl);
    crypto::init();
    return true;
  }();
  (void)installed;
  Stream::position() = 0;
}

/// A fixed X25519 private key per role, so seeds made by fuzz_seedgen stay valid.
inline crypto::Key fixed_key(uint8_t role) {
  crypto::Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(role * 37 + i * 11 + 1);
  return k;
}

enum KeyRole : uint8_t {
  kDcStatic = 1,     ///< the DC's static key (handshake targets, DC target)
  kNodeAStatic = 2,  ///< node A's identity
  kNodeBStatic = 3,  ///< node B's identity
  kSessionKey = 4,   ///< the sealed-packet target's receive key
};

/// The message a handshake target feeds to its parser: the fuzzer's bytes after the first,
/// either taken as the message (first byte even) or XORed over a genuine message (odd), so
/// mutations also reach the states behind a valid header and MAC.
inline proto::Bytes raw_or_xored(const proto::Bytes& genuine, const uint8_t* data, size_t size) {
  proto::ByteView rest(data + 1, size - 1);
  if (!(data[0] & 1)) return proto::Bytes(rest.begin(), rest.end());
  proto::Bytes msg = genuine;
  for (size_t i = 0; i < rest.size(); ++i) {
    if (i < msg.size())
      msg[i] ^= rest[i];
    else
      msg.push_back(rest[i]);
  }
  return msg;
}

}  // namespace ntm::fuzz
