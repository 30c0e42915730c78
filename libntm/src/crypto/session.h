// An AEAD session: one key per direction, a 64-bit send counter and a replay window. Used for
// node⇄DC control sessions (after the Noise IK handshake), for tunnel control (keys derived
// from the temporal key) and for tunnel data (keys from the ephemeral exchange).
//
// Sealed packet layout (docs/protocol.md §2), 16-byte header used as AEAD associated data:
//   type (u8) | reserved (3 bytes, zero) | receiver index (u32 BE) | counter (u64 BE)
//   | ciphertext of the plaintext | Poly1305 tag (16)
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>

#include "crypto/aead.h"
#include "crypto/anti_replay.h"
#include "proto/bytes.h"
#include "proto/messages.h"

namespace ntm::crypto {

/// Header fields of a sealed packet, parsed without any crypto.
struct SealedHeader {
  proto::PacketType type;
  uint32_t receiver_index;
  uint64_t counter;
};
/// Parses the 16-byte header; false when `packet` is shorter than header + tag or a reserved
/// byte is non-zero.
bool parse_sealed_header(proto::ByteView packet, SealedHeader& h);

class Session {
 public:
  /// A new session sends with counters from `first_counter` (tests start near the limit).
  Session(const Key& send_key, const Key& recv_key, uint32_t remote_index,
          uint64_t first_counter = 0);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  /// After this many packets the owner should re-key (a new handshake or tunnel).
  static constexpr uint64_t kRekeyAfterMessages = 1ull << 60;
  /// Counters at or above this are never used: seal() refuses (WireGuard's REJECT_AFTER_MESSAGES).
  static constexpr uint64_t kRejectAfterMessages = ~0ull - (1ull << 13);

  enum class SealStatus { kOk, kRekeySoon, kExhausted };
  /// Writes header + ciphertext + tag for `plain` to `out` (plain.size() + 32 bytes); `out` must
  /// not overlap `plain` except when out + 16 == plain.data() (in-place sealing after a
  /// reserved header). kExhausted means nothing was written.
  SealStatus seal(proto::PacketType type, proto::ByteView plain, uint8_t* out);

  enum class OpenStatus { kOk, kAuthFailed, kReplay, kTooOld };
  /// Authenticates and decrypts a whole sealed packet (header already parsed into `h`) into
  /// `out` (packet.size() − 32 bytes), then runs anti-replay. Thread-safe. When `newest` is
  /// given it is set, on kOk, to whether this counter is the highest accepted so far: only
  /// such a packet may move a peer's endpoint (roaming), so a held-back older packet from an
  /// old address cannot undo a roam.
  OpenStatus open(const SealedHeader& h, proto::ByteView packet, uint8_t* out,
                  bool* newest = nullptr);

  uint32_t remote_index() const { return remote_index_; }
  uint64_t packets_sent() const { return send_counter_.load(std::memory_order_relaxed); }
  /// The highest counter accepted from the peer (0 before the first): how many packets the
  /// peer has sealed under its key.
  uint64_t highest_received();

 private:
  Key send_key_, recv_key_;
  uint32_t remote_index_;
  std::atomic<uint64_t> send_counter_;
  std::mutex replay_mu_;
  ReplayWindow replay_;  // guarded by replay_mu_
};

}  // namespace ntm::crypto
