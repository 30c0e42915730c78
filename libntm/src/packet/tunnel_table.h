// The tunnel table (paper 002 §3.2: the negotiation module fills it, the packet manipulation
// module reads it). Outbound lookup by the peer's vIP (IPv4 or IPv6), inbound lookup by our
// receiver tunnel ID. Readers on the packet path take a shared lock and hold a shared_ptr
// copy, so a tunnel replaced by the control thread stays alive until in-flight packets finish.
#pragma once

#include <netinet/in.h>

#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "crypto/session.h"
#include "packet/vip_key.h"
#include "proto/endpoint.h"

namespace ntm::packet {

struct Tunnel {
  uint32_t local_id = 0;      ///< receiver index peers put in data packets to us
  uint32_t direction_id = 0;  ///< the route direction that created it
  bool has_vip4 = false, has_vip6 = false;
  uint32_t peer_vip4 = 0;  ///< network byte order
  Vip6 peer_vip6{};
  std::unique_ptr<crypto::Session> session;
  /// The peer is known to have this tunnel installed: set at once on the initiator (it holds
  /// the tunnel response), on the responder by the first authenticated data packet. Until
  /// then the responder queues outbound packets instead of sending what the peer would drop.
  std::atomic<bool> confirmed{false};

  /// The peer's current UDP endpoint; changes only after an authenticated packet (roaming).
  proto::Endpoint endpoint() const {
    std::lock_guard l(endpoint_mu_);
    return endpoint_;
  }
  /// Returns true when the endpoint changed.
  bool set_endpoint(const proto::Endpoint& e) {
    std::lock_guard l(endpoint_mu_);
    if (endpoint_ == e) return false;
    endpoint_ = e;
    return true;
  }

 private:
  mutable std::mutex endpoint_mu_;
  proto::Endpoint endpoint_;  // guarded by endpoint_mu_
};

class TunnelTable {
 public:
  std::shared_ptr<Tunnel> find_by_id(uint32_t local_id) const;
  std::shared_ptr<Tunnel> find_by_vip4(uint32_t vip4) const;
  std::shared_ptr<Tunnel> find_by_vip6(const Vip6& vip6) const;

  /// Installs `t`, replacing any tunnel to the same peer vIPs. The replaced tunnel keeps
  /// accepting inbound packets under its old ID until remove() (so packets already in flight
  /// still decrypt); outbound traffic moves to `t` at once.
  void insert(std::shared_ptr<Tunnel> t);
  void remove(uint32_t local_id);
  /// A random receiver index not in use (never 0).
  uint32_t allocate_id() const;
  size_t size() const;
  std::vector<std::shared_ptr<Tunnel>> all() const;
  void clear();

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<uint32_t, std::shared_ptr<Tunnel>> by_id_;              // guarded by mu_
  std::unordered_map<uint32_t, std::shared_ptr<Tunnel>> by_vip4_;            // guarded by mu_
  std::unordered_map<VipKey, std::shared_ptr<Tunnel>, VipKeyHash> by_vip6_;  // guarded by mu_
};

}  // namespace ntm::packet
