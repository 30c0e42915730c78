// Direction requests and route directions at the DC (paper 002 Fig. 3 steps 2 and 15-16;
// with one DC for both nodes, steps 3-14 collapse into a registry lookup; Fig. 5 steps 14-15,
// the relay, become a ticket the DC signs — docs/protocol.md §7.2, §7.9, §12).
//
// 1. the MN's direction request names the CN by FQDN or by vIP
// 2. the DC answers with the CN's vIPs at once (direction response)
// 3. it draws a direction ID and a temporal key
// 4. each node gets the other's path candidates, best first: private (LAN) endpoints when
//    both sit behind the same public address, then the peer's NAT-mapped endpoint, or its
//    public addresses when no NAT hides it — only in families the receiver has
// 5. a relay when the path is uncertain (both behind NAT) or impossible (families that do
//    not meet): the least loaded live RS with an endpoint in each node's family, a ticket for
//    the two identities and each node's side key
// 6. roles: the CN sends the tunnel request (role 1) to every candidate and through the
//    relay; the MN punches towards the CN's candidates and answers the first request that
//    gets through, so the MN — whose application is waiting — has a tunnel one DC round trip
//    plus one node-to-node trip after it asked
// 7. route directions to both nodes in parallel — not one after the other as in the paper
// A name in another zone goes to that zone's DC first (peer_dc.cpp: steps 3-14 of Fig. 3).
#include <arpa/inet.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>
#include <ctime>

#include "dc/dc_server.h"

namespace ntm::dc {
namespace {
int family(const proto::Endpoint& e) {
  return e.is_v4() ? AF_INET : AF_INET6;
}

bool loopback(const proto::Endpoint& e) {
  if (e.is_v4())
    return (ntohl(reinterpret_cast<const sockaddr_in*>(e.sa())->sin_addr.s_addr) >> 24) == 127;
  return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(e.sa())->sin6_addr);
}

/// Private or local scope: RFC 1918, shared (RFC 6598), link-local, loopback, ULA (fc00::/7).
bool private_scope(const proto::Endpoint& e) {
  if (e.is_v4()) {
    uint32_t a = ntohl(reinterpret_cast<const sockaddr_in*>(e.sa())->sin_addr.s_addr);
    return (a >> 24) == 10 || (a >> 20) == 0xac1 || (a >> 16) == 0xc0a8 || (a >> 22) == 0x191 ||
           (a >> 16) == 0xa9fe || (a >> 24) == 127;
  }
  const auto& a = reinterpret_cast<const sockaddr_in6*>(e.sa())->sin6_addr;
  return IN6_IS_ADDR_LOOPBACK(&a) || IN6_IS_ADDR_LINKLOCAL(&a) || (a.s6_addr[0] & 0xfe) == 0xfc;
}

bool same_address(const proto::Endpoint& a, const proto::Endpoint& b) {
  if (a.is_v4() != b.is_v4()) return false;
  if (a.is_v4())
    return reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr.s_addr ==
           reinterpret_cast<const sockaddr_in*>(b.sa())->sin_addr.s_addr;
  return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr,
                     &reinterpret_cast<const sockaddr_in6*>(b.sa())->sin6_addr, 16) == 0;
}

/// Whether `n` can send to an address of `fam`: it reached the DC in that family, or it has an
/// address of that family other than a loopback one.
bool has_family(const NodeRecord& n, int fam) {
  if (family(n.nat_address) == fam) return true;
  for (auto& e : n.real_addresses)
    if (family(e) == fam && !loopback(e)) return true;
  return false;
}

constexpr size_t kMaxCandidates = 8;

}  // namespace

/// Step 4: the paths `to` may use towards `peer`, best first.
std::vector<proto::Candidate> candidates_for(const NodeRecord& to, const NodeRecord& peer) {
  std::vector<proto::Candidate> out;
  auto add = [&](proto::CandidateKind kind, const proto::Endpoint& e) {
    if (out.size() >= kMaxCandidates || !has_family(to, family(e))) return;
    // A loopback address reaches the peer only from the same host.
    if (loopback(e) && !loopback(to.nat_address)) return;
    for (auto& c : out)
      if (c.endpoint == e) return;
    out.push_back({kind, e});
  };
  bool same_site = same_address(to.nat_address, peer.nat_address);
  if (peer.reachable()) {
    add(proto::CandidateKind::kPublic, peer.nat_address);
    // Its addresses in the other family (a dual-stack peer for an IPv6-only node).
    for (auto& e : peer.real_addresses)
      if (family(e) != family(peer.nat_address) && (!private_scope(e) || same_site))
        add(proto::CandidateKind::kPublic, e);
    return out;
  }
  if (same_site)  // behind the same NAT: its LAN addresses first (paper 000: private first)
    for (auto& e : peer.real_addresses)
      if (!(e == peer.nat_address)) add(proto::CandidateKind::kLan, e);
  add(proto::CandidateKind::kMapped, peer.nat_address);
  return out;
}

void DcServer::on_direction_request(ControlSession& s, uint32_t index,
                                    const proto::ControlMessage& m) {
  NodeRecord* mn = registry_.find(s.identity);
  if (!mn || mn->session_index != index)
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kNotRegistered, "not registered"));
  // Each direction request makes the DC send two route directions: a node may not turn the
  // DC into a traffic source for itself (or for a victim posing as its peer's address).
  if (!s.directions.allow())
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kRateLimited,
                                     "too many direction requests; try again later"));
  NodeRecord* cn = nullptr;  // 1
  std::string wanted;
  if (auto fqdn = m.get_string(proto::AttrType::kFqdn)) {
    wanted = DcLocator::canonical(fqdn->substr(0, 253));
    cn = registry_.find_fqdn(wanted);
    // A name of another zone: its DC is found through DNS and asked (peer_dc.cpp).
    if (!cn && DcLocator::zone_of(wanted) != registry_.domain())
      return start_foreign_direction(s, index, m, *mn, wanted);
  } else if (auto v4 = m.get_fixed<4>(proto::AttrType::kPeerVip4)) {
    Address a{};
    std::copy(v4->begin(), v4->end(), a.begin());
    cn = registry_.find_vip(a, false);
    char t[INET_ADDRSTRLEN];
    wanted = inet_ntop(AF_INET, v4->data(), t, sizeof t);
  } else if (auto v6 = m.get_fixed<16>(proto::AttrType::kPeerVip6)) {
    Address a;
    std::copy(v6->begin(), v6->end(), a.begin());
    cn = registry_.find_vip(a, true);
    char t[INET6_ADDRSTRLEN];
    wanted = inet_ntop(AF_INET6, v6->data(), t, sizeof t);
  } else {
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kMalformed,
                                     "direction request names no FQDN or vIP"));
  }
  if (!cn) {
    if (event_log_.allow())
      spdlog::info("direction {} -> {}: unknown", mn->fqdn, server::printable(wanted));
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kUnknownFqdn,
                                     "no node named " + wanted + " is registered"));
  }
  if (cn == mn)
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kPeerUnreachable,
                                     "a node cannot direct a tunnel to itself"));
  DirectionPlan plan;
  if (auto error = plan_direction(*mn, *cn, m, plan)) return respond(s, index, m, *error);
  uint32_t direction_id = crypto::random_u32() | 1;  // 3
  crypto::Key temporal_key;
  crypto::random_bytes(temporal_key.data(), temporal_key.size());

  proto::ControlMessage resp(proto::MessageType::kDirectionResponse, m.message_id);  // 2
  resp.add_string(proto::AttrType::kFqdn, cn->fqdn);
  if (cn->vip4) resp.add(proto::AttrType::kPeerVip4, proto::ByteView(cn->vip4->data(), 4));
  if (cn->vip6) resp.add(proto::AttrType::kPeerVip6, proto::ByteView(cn->vip6->data(), 16));
  resp.add_u32(proto::AttrType::kDirectionId, direction_id);
  resp.add(proto::AttrType::kPeerStaticKey, cn->identity);
  respond(s, index, m, std::move(resp));

  ++stats_.directions;
  if (event_log_.allow())
    spdlog::info(
        "direction {} -> {} id {:08x}: {} sends the tunnel request; {} candidates "
        "each way{}{}",
        mn->fqdn, cn->fqdn, direction_id, cn->fqdn, plan.to_mn.size(),
        plan.grant_cn ? ", relay " : "",
        plan.grant_cn
            ? plan.grant_cn->endpoint.to_string() + " / " + plan.grant_mn->endpoint.to_string()
            : "");
  send_route_direction(*cn, *mn, direction_id, temporal_key, proto::Role::kInitiator, plan.to_mn,
                       plan.grant_cn ? &*plan.grant_cn : nullptr);  // 6, 7
  send_route_direction(*mn, *cn, direction_id, temporal_key, proto::Role::kResponder, plan.to_cn,
                       plan.grant_mn ? &*plan.grant_mn : nullptr);
  sodium_memzero(temporal_key.data(), temporal_key.size());
  for (auto* g : {&plan.grant_cn, &plan.grant_mn})
    if (*g) sodium_memzero((*g)->key.data(), (*g)->key.size());
}

std::optional<proto::ControlMessage> DcServer::plan_direction(const NodeRecord& mn,
                                                              const NodeRecord& cn,
                                                              const proto::ControlMessage& m,
                                                              DirectionPlan& plan) {
  auto now = Clock::now();
  plan.to_cn = candidates_for(mn, cn);  // 4
  plan.to_mn = candidates_for(cn, mn);
  bool direct = !plan.to_cn.empty() && !plan.to_mn.empty();
  bool need_relay = !direct || (!mn.reachable() && !cn.reachable());  // 5
  std::optional<RelayDirectory::Choice> relay;
  if (auto failed = m.get_endpoint(proto::AttrType::kFailedRelay)) {
    if (event_log_.allow())
      spdlog::info("{} reports relay {} failed", mn.fqdn, failed->to_string());
    relays_.report_failure(*failed, now);
  }
  if (need_relay && relays_.configured())
    relay = relays_.choose(family(cn.nat_address), family(mn.nat_address), now);
  if (!direct && !relay) {
    if (event_log_.allow())
      spdlog::info("direction {} -> {}: no common address family and no relay server", mn.fqdn,
                   cn.fqdn);
    return proto::make_error(m, proto::ErrorCode::kPeerUnreachable,
                             "the nodes have no address family in common and no relay "
                             "server is available");
  }
  if (relay) {  // the ticket names the CN as side 1 (identity A) and the MN as side 2
    uint32_t session_id;
    do session_id = crypto::random_u32();
    while (session_id == 0);
    uint32_t expiry = uint32_t(time(nullptr)) + cfg_.relay_ticket_lifetime_s;
    proto::Bytes ticket = relays_.issue_ticket(session_id, expiry, cn.identity, mn.identity);
    plan.grant_cn = RelayGrant{relay->endpoint_a, ticket, relays_.side_key(1, ticket), 1};
    plan.grant_mn = RelayGrant{relay->endpoint_b, ticket, relays_.side_key(2, ticket), 2};
    ++stats_.relayed_directions;
  }
  return std::nullopt;
}

void DcServer::send_route_direction(const NodeRecord& to, const NodeRecord& peer,
                                    uint32_t direction_id, const crypto::Key& temporal_key,
                                    proto::Role role,
                                    const std::vector<proto::Candidate>& candidates,
                                    const RelayGrant* relay) {
  proto::ControlMessage rd(proto::MessageType::kRouteDirection, next_message_id_++);
  rd.add_u32(proto::AttrType::kDirectionId, direction_id);
  rd.add(proto::AttrType::kTemporalKey, temporal_key);
  rd.add_u8(proto::AttrType::kRole, uint8_t(role));
  rd.add_string(proto::AttrType::kPeerFqdn, peer.fqdn);
  rd.add(proto::AttrType::kPeerStaticKey, peer.identity);
  if (peer.vip4) rd.add(proto::AttrType::kPeerVip4, proto::ByteView(peer.vip4->data(), 4));
  if (peer.vip6) rd.add(proto::AttrType::kPeerVip6, proto::ByteView(peer.vip6->data(), 16));
  for (auto& c : candidates) rd.add_candidate(c);
  if (relay) {
    rd.add_endpoint(proto::AttrType::kRelayEndpoint, relay->endpoint);
    rd.add(proto::AttrType::kRelayTicket, relay->ticket);
    rd.add(proto::AttrType::kRelayKey, relay->key);
    rd.add_u8(proto::AttrType::kRelaySide, relay->side);
  }
  send_request(to.session_index, rd.encode());
}

}  // namespace ntm::dc
