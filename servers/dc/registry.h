// The DC's node database (paper 003 §3: FQDN, real IP, virtual IP, NAT outside
// address/port): registrations by node identity (static public key), indexed by FQDN and vIP,
// with expiry when keep-alives stop.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dc/vip_pool.h"
#include "proto/endpoint.h"

namespace ntm::dc {

using Clock = std::chrono::steady_clock;

struct NodeRecord {
  crypto::Key identity{};
  std::string name, fqdn;
  std::optional<Address> vip4, vip6;
  std::vector<proto::Endpoint> real_addresses;  ///< as the node reports them
  proto::Endpoint nat_address;                  ///< as the DC sees the node
  uint32_t session_index = 0;                   ///< the DC-side index of its control session
  size_t socket = 0;                            ///< which listening socket reaches it
  Clock::time_point expires;
  int64_t persisted_at = 0;  ///< unix seconds of the last last-seen write to the store
  /// Registered with the Notification attribute while the DC has an NS (docs/protocol.md §17):
  /// the longer lifetime, and the NS is asked to wake the node for every request to it.
  bool notification = false;

  /// Reachable from outside: the DC sees one of the node's own addresses (no NAT between).
  bool reachable() const;
};

class Registry {
 public:
  /// `store` (may be null) makes vIP bindings survive restarts of the DC.
  Registry(std::optional<server::Cidr> vip4_pool, std::optional<server::Cidr> vip6_pool,
           std::string domain, BindingStore* store = nullptr);

  enum class Result { kOk, kInvalidName, kNameTaken, kPoolExhausted };
  /// Registers or refreshes the node `identity` under `name`; on kOk `*out` is its record.
  Result register_node(const crypto::Key& identity, const std::string& name,
                       Clock::time_point expires, NodeRecord** out);
  NodeRecord* find(const crypto::Key& identity);
  NodeRecord* find_fqdn(const std::string& fqdn);
  NodeRecord* find_vip(const Address& vip, bool v6);
  /// Removes and returns the records whose lifetime ended before `now`.
  std::vector<NodeRecord> expire(Clock::time_point now);
  /// Records that `identity` was seen now (wall clock), for reclaim().
  void seen(const crypto::Key& identity, int64_t unix_seconds);
  /// Removes the vIP bindings (both families) of identities without a registration that were
  /// last seen before `cutoff` (unix seconds). Returns those identities.
  std::vector<crypto::Key> reclaim(int64_t cutoff);
  /// Identities holding a vIP binding in either pool (registered or not).
  size_t bindings() const;
  size_t size() const { return nodes_.size(); }
  const std::string& domain() const { return domain_; }

  /// A DNS label: 1..63 of [a-z0-9-], not starting or ending with '-'.
  static bool valid_label(const std::string& s);

 private:
  std::string domain_;
  std::optional<VipPool> pool4_, pool6_;
  std::map<crypto::Key, NodeRecord> nodes_;
  std::map<std::string, crypto::Key> by_fqdn_;
  std::map<Address, crypto::Key> by_vip4_, by_vip6_;  // IPv4 keys use the first 4 bytes
};

}  // namespace ntm::dc
