// Fuzz target: the receive path of every sealed packet (kControl at the DC and nodes,
// kTunnelControl and kData between nodes): crypto::parse_sealed_header, then Session::open with
// a fixed key, as receive.cpp and dc_server.cpp call them.
//
// Input: the datagram. Seeds (fuzz_seedgen) are genuine packets sealed with the fixed key, so
// the accepted path and the replay window are reached too.
//
// Invariants: only a packet that opens is accepted, exactly once; the same bytes used as a
// plaintext seal and open back to themselves, and any one changed byte of that packet is
// refused without moving the replay window.
#include <cstdint>

#include "crypto/session.h"
#include "fuzz_support.h"

using namespace ntm;
using proto::Bytes;
using Open = crypto::Session::OpenStatus;

namespace {

const crypto::Key& receive_key() {
  static const crypto::Key k = fuzz::fixed_key(fuzz::kSessionKey);
  return k;
}

void open_as_received(proto::ByteView packet) {
  crypto::SealedHeader h;
  if (!crypto::parse_sealed_header(packet, h)) {
    FUZZ_CHECK(packet.size() < proto::kSealedOverhead || (packet[1] | packet[2] | packet[3]));
    return;
  }
  FUZZ_CHECK(packet.size() >= proto::kSealedOverhead);
  crypto::Session rx(crypto::Key{}, receive_key(), 1);
  Bytes out(packet.size() - proto::kSealedOverhead);
  Open first = rx.open(h, packet, out.data());
  if (first == Open::kOk) {
    FUZZ_CHECK(h.counter < crypto::Session::kRejectAfterMessages);
    FUZZ_CHECK(rx.open(h, packet, out.data()) == Open::kReplay);
  } else {
    FUZZ_CHECK(first == Open::kAuthFailed || first == Open::kTooOld);
  }
}

void seal_and_open(proto::ByteView plain) {
  // The first 8 bytes pick the sender's starting counter, so inputs reach the re-key and
  // exhaustion limits too.
  uint64_t first_counter = plain.size() >= 8 ? proto::get_u64(plain.data()) : 0;
  crypto::Session tx(receive_key(), crypto::Key{}, 7, first_counter);
  crypto::Session rx(crypto::Key{}, receive_key(), 7);
  Bytes packet(plain.size() + proto::kSealedOverhead, 0xee);
  auto st = tx.seal(proto::PacketType::kData, plain, packet.data());
  if (st == crypto::Session::SealStatus::kExhausted) {
    FUZZ_CHECK(first_counter >= crypto::Session::kRejectAfterMessages);
    FUZZ_CHECK(packet == Bytes(packet.size(), 0xee));
    return;
  }
  FUZZ_CHECK(first_counter < crypto::Session::kRejectAfterMessages);
  FUZZ_CHECK((st == crypto::Session::SealStatus::kRekeySoon) ==
             (first_counter >= crypto::Session::kRekeyAfterMessages));
  crypto::SealedHeader h;
  FUZZ_CHECK(crypto::parse_sealed_header(packet, h));
  FUZZ_CHECK(h.counter == first_counter && h.receiver_index == 7);

  size_t at = plain.empty() ? 0 : plain[plain.size() - 1] % packet.size();
  Bytes forged = packet;
  forged[at] ^= uint8_t(1 + (plain.empty() ? 0 : plain[0] % 255));
  crypto::SealedHeader fh;
  Bytes out(plain.size());
  if (crypto::parse_sealed_header(forged, fh))
    FUZZ_CHECK(rx.open(fh, forged, out.data()) != Open::kOk);

  FUZZ_CHECK(rx.open(h, packet, out.data()) == Open::kOk);
  FUZZ_CHECK(Bytes(plain.begin(), plain.end()) == out);
  FUZZ_CHECK(rx.open(h, packet, out.data()) == Open::kReplay);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::deterministic_randomness();
  proto::ByteView in(data, size);
  open_as_received(in);
  seal_and_open(in);
  return 0;
}
