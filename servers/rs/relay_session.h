// The relay server's sessions (docs/protocol.md §12.4). A session is created by the first
// valid bind of a DC-signed ticket and relays between the ticket's two nodes only:
//
// 1. bind: the ticket's MAC (a relay key shared with the DC), its expiry, then the bind's MAC
//    under the side key derived from the ticket, then a counter above the last one accepted
//    for that side → the source address becomes that side's endpoint (so a node behind a NAT
//    that rebinds moves its endpoint with its next bind, and a replayed bind moves nothing)
// 2. relay data from a side's bound endpoint goes to the other side's bound endpoint, within
//    the sender's quota and the server's; data from any other address is dropped
// 3. data for a side that has not bound yet is held briefly (a tunnel request may overtake
//    the peer's first bind)
// 4. sessions expire with their ticket, or when nothing happened for session-idle seconds
#pragma once

#include <array>
#include <chrono>
#include <memory>
#include <unordered_map>
#include <vector>

#include "crypto/relay_auth.h"
#include "proto/endpoint.h"
#include "proto/relay.h"

namespace ntm::rs {

using Clock = std::chrono::steady_clock;

/// A token bucket whose draws have a cost (packets or bytes).
class Quota {
 public:
  Quota(double rate, double burst) : rate_(rate), burst_(burst), tokens_(burst) {}
  bool take(double cost, Clock::time_point now);

 private:
  double rate_, burst_, tokens_;
  Clock::time_point last_{};
};

struct Side {
  Side(double pps, double bytes)
      : pps(pps, std::max(64.0, pps / 4)), bytes(bytes, std::max(65536.0, bytes / 4)) {}
  bool bound = false;
  proto::Endpoint endpoint;
  size_t socket = 0;
  uint64_t counter = 0;  ///< highest bind counter accepted
  crypto::Key key{};     ///< side key of the session's ticket
  Quota pps, bytes;
};

struct Session {
  Session(double pps, double bytes) : side{Side(pps, bytes), Side(pps, bytes)} {}
  uint32_t id = 0;
  size_t key_index = 0;  ///< which relay key signed the ticket
  std::array<uint8_t, proto::kRelayTicketSize> ticket{};
  uint32_t expiry = 0;  ///< Unix seconds
  Side side[2];
  Clock::time_point last_active{}, last_notice{};
  /// Relay data that arrived before the other side bound (at most kMaxHeld, kHoldFor each).
  struct Held {
    std::vector<uint8_t> bytes;
    Clock::time_point at;
  };
  std::vector<Held> held;  ///< always towards the side that is not bound
};

class SessionTable {
 public:
  static constexpr size_t kMaxHeld = 8;
  static constexpr auto kHoldFor = std::chrono::seconds(2);

  SessionTable(std::vector<crypto::Key> keys, size_t max_sessions, double node_pps,
               double node_bytes);

  enum class BindResult {
    kAccepted,
    kBadTicket,  ///< no relay key signs it
    kExpired,
    kBadMac,    ///< the bind's MAC does not verify under the side key
    kStale,     ///< counter not above the last one accepted for this side (a replay)
    kConflict,  ///< a session with this ID exists for another ticket
    kFull,      ///< max_sessions reached
  };
  /// Step 1 for a parsed bind (`raw` = its 116 bytes) from `from` on socket `socket`.
  BindResult bind(const proto::RelayBind& b, proto::ByteView raw, const proto::Endpoint& from,
                  size_t socket, uint32_t unix_now, Clock::time_point now, Session** out);
  Session* find(uint32_t session_id);
  /// 0 or 1 when `from` is a bound side's endpoint, -1 otherwise.
  static int side_of(const Session& s, const proto::Endpoint& from);
  /// Removes sessions whose ticket expired or that were idle longer than `idle`, and held data
  /// older than kHoldFor. Returns how many sessions went.
  size_t expire(uint32_t unix_now, Clock::time_point now, Clock::duration idle);
  size_t size() const { return sessions_.size(); }
  /// The relay keys (index = Session::key_index), for status requests.
  const std::vector<std::unique_ptr<crypto::RelayKeys>>& keys() const { return keys_; }

 private:
  std::vector<std::unique_ptr<crypto::RelayKeys>> keys_;
  size_t max_sessions_;
  double node_pps_, node_bytes_;
  std::unordered_map<uint32_t, Session> sessions_;
};

const char* to_string(SessionTable::BindResult r);

}  // namespace ntm::rs
