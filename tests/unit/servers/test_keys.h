// A fresh random X25519 static key pair (libsodium), for tests that play a node, a DC or a
// server without a key file.
#pragma once

#include <sodium.h>

#include "crypto/static_key.h"

namespace ntm::test {

inline crypto::StaticKeyPair key_pair() {
  crypto::StaticKeyPair k;
  randombytes_buf(k.private_key.data(), k.private_key.size());
  crypto_scalarmult_base(k.public_key.data(), k.private_key.data());
  return k;
}

}  // namespace ntm::test
