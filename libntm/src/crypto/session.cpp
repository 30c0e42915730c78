#include "crypto/session.h"

#include <sodium.h>

#include <cstring>

namespace ntm::crypto {

bool parse_sealed_header(proto::ByteView packet, SealedHeader& h) {
  if (packet.size() < proto::kSealedOverhead) return false;
  if (packet[1] | packet[2] | packet[3]) return false;
  h.type = proto::PacketType(packet[0]);
  h.receiver_index = proto::get_u32(&packet[4]);
  h.counter = proto::get_u64(&packet[8]);
  return true;
}

Session::Session(const Key& send_key, const Key& recv_key, uint32_t remote_index,
                 uint64_t first_counter)
    : send_key_(send_key),
      recv_key_(recv_key),
      remote_index_(remote_index),
      send_counter_(first_counter) {}

Session::~Session() {
  sodium_memzero(send_key_.data(), send_key_.size());
  sodium_memzero(recv_key_.data(), recv_key_.size());
}

Session::SealStatus Session::seal(proto::PacketType type, proto::ByteView plain, uint8_t* out) {
  uint64_t counter = send_counter_.fetch_add(1, std::memory_order_relaxed);
  if (counter >= kRejectAfterMessages) {
    send_counter_.store(kRejectAfterMessages, std::memory_order_relaxed);
    return SealStatus::kExhausted;
  }
  uint8_t header[proto::kSealedHeaderSize] = {uint8_t(type), 0, 0, 0};
  proto::put_u32(header + 4, remote_index_);
  proto::put_u64(header + 8, counter);
  // Encrypt first: when sealing in place, plain starts right after the header bytes.
  crypto::seal(send_key_, counter, proto::ByteView(header, sizeof header), plain,
               out + proto::kSealedHeaderSize);
  std::memcpy(out, header, sizeof header);
  return counter >= kRekeyAfterMessages ? SealStatus::kRekeySoon : SealStatus::kOk;
}

Session::OpenStatus Session::open(const SealedHeader& h, proto::ByteView packet, uint8_t* out,
                                  bool* newest) {
  if (h.counter >= kRejectAfterMessages) return OpenStatus::kTooOld;
  if (!crypto::open(recv_key_, h.counter, packet.first(proto::kSealedHeaderSize),
                    packet.subspan(proto::kSealedHeaderSize), out))
    return OpenStatus::kAuthFailed;
  std::lock_guard lock(replay_mu_);
  if (newest) *newest = !replay_.any() || h.counter > replay_.highest();
  switch (replay_.check_and_update(h.counter)) {
    case ReplayWindow::Verdict::kAccept:
      return OpenStatus::kOk;
    case ReplayWindow::Verdict::kReplay:
      return OpenStatus::kReplay;
    case ReplayWindow::Verdict::kTooOld:
      return OpenStatus::kTooOld;
  }
  return OpenStatus::kAuthFailed;
}

uint64_t Session::highest_received() {
  std::lock_guard lock(replay_mu_);
  return replay_.highest();
}

}  // namespace ntm::crypto
