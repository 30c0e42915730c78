#include "crypto/tunnel_keys.h"

#include <sodium.h>

#include <cstring>

namespace ntm::crypto {

DirectionalKeys tunnel_control_keys(const Key& temporal_key, proto::Role role) {
  static constexpr char kLabel[] = "ntm tunnel control";
  Key i2r, r2i;
  hkdf2(temporal_key, ByteView(reinterpret_cast<const uint8_t*>(kLabel), sizeof(kLabel) - 1), i2r,
        r2i);
  if (role == proto::Role::kInitiator) return {i2r, r2i};
  return {r2i, i2r};
}

bool tunnel_data_keys(const Key& temporal_key, proto::Role role, const Key& local_ephemeral_priv,
                      const Key& local_ephemeral_pub, const Key& peer_ephemeral_pub,
                      DirectionalKeys& out) {
  uint8_t ikm[96];
  Key shared;
  if (!dh(local_ephemeral_priv, peer_ephemeral_pub, shared)) return false;
  const Key& ei = role == proto::Role::kInitiator ? local_ephemeral_pub : peer_ephemeral_pub;
  const Key& er = role == proto::Role::kInitiator ? peer_ephemeral_pub : local_ephemeral_pub;
  std::memcpy(ikm, shared.data(), 32);
  std::memcpy(ikm + 32, ei.data(), 32);
  std::memcpy(ikm + 64, er.data(), 32);
  Key i2r, r2i;
  hkdf2(temporal_key, ByteView(ikm, sizeof ikm), i2r, r2i);
  sodium_memzero(ikm, sizeof ikm);
  sodium_memzero(shared.data(), shared.size());
  out = role == proto::Role::kInitiator ? DirectionalKeys{i2r, r2i} : DirectionalKeys{r2i, i2r};
  return true;
}

}  // namespace ntm::crypto
