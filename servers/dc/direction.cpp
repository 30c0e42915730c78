// Direction requests and route directions at the DC (paper 002 Fig. 3 steps 2 and 15-16;
// with one DC for both nodes, steps 3-14 collapse into a registry lookup).
//
// 1. the MN's direction request names the CN by FQDN or by vIP
// 2. the DC answers with the CN's vIPs at once (direction response)
// 3. it draws a direction ID and a temporal key
// 4. it picks the initiator: the side that can reach the other (the CN when only the MN is
//    reachable, as in the paper's figure; otherwise the MN)
// 5. it sends route directions to both nodes in parallel — not one after the other as in
//    the paper — so the tunnel exchange starts as soon as both have theirs
#include <arpa/inet.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstring>

#include "dc/dc_server.h"

namespace ntm::dc {
namespace {
std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}
}  // namespace

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
    wanted = lower(fqdn->substr(0, 253));
    cn = registry_.find_fqdn(wanted);
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
  proto::Role mn_role;  // 4
  if (cn->reachable()) {
    mn_role = proto::Role::kInitiator;
  } else if (mn->reachable()) {
    mn_role = proto::Role::kResponder;
  } else {
    if (event_log_.allow())
      spdlog::info("direction {} -> {}: both behind NAT, no relay configured", mn->fqdn, cn->fqdn);
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kPeerUnreachable,
                                     "both nodes are behind NAT and no relay server is "
                                     "configured"));
  }
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
    spdlog::info("direction {} -> {} id {:08x}: {} sends the tunnel request to {}", mn->fqdn,
                 cn->fqdn, direction_id, mn_role == proto::Role::kInitiator ? mn->fqdn : cn->fqdn,
                 mn_role == proto::Role::kInitiator ? cn->nat_address.to_string()
                                                    : mn->nat_address.to_string());
  proto::Role cn_role =
      mn_role == proto::Role::kInitiator ? proto::Role::kResponder : proto::Role::kInitiator;
  send_route_direction(*cn, *mn, direction_id, temporal_key, cn_role);  // 5
  send_route_direction(*mn, *cn, direction_id, temporal_key, mn_role);
  sodium_memzero(temporal_key.data(), temporal_key.size());
}

void DcServer::send_route_direction(const NodeRecord& to, const NodeRecord& peer,
                                    uint32_t direction_id, const crypto::Key& temporal_key,
                                    proto::Role role) {
  proto::ControlMessage rd(proto::MessageType::kRouteDirection, next_message_id_++);
  rd.add_u32(proto::AttrType::kDirectionId, direction_id);
  rd.add(proto::AttrType::kTemporalKey, temporal_key);
  rd.add_u8(proto::AttrType::kRole, uint8_t(role));
  rd.add_string(proto::AttrType::kPeerFqdn, peer.fqdn);
  rd.add(proto::AttrType::kPeerStaticKey, peer.identity);
  if (peer.vip4) rd.add(proto::AttrType::kPeerVip4, proto::ByteView(peer.vip4->data(), 4));
  if (peer.vip6) rd.add(proto::AttrType::kPeerVip6, proto::ByteView(peer.vip6->data(), 16));
  // Where to send the tunnel request: the peer as the DC sees it. Its self-reported
  // addresses are added only when both sit behind the same public address (same LAN).
  rd.add_endpoint(proto::AttrType::kPeerEndpoint, peer.nat_address);
  auto same_site = [&] {
    proto::Endpoint a = peer.nat_address, b = to.nat_address;
    if (a.is_v4() != b.is_v4()) return false;
    if (a.is_v4())
      return reinterpret_cast<const sockaddr_in*>(a.sa())->sin_addr.s_addr ==
             reinterpret_cast<const sockaddr_in*>(b.sa())->sin_addr.s_addr;
    return std::memcmp(&reinterpret_cast<const sockaddr_in6*>(a.sa())->sin6_addr,
                       &reinterpret_cast<const sockaddr_in6*>(b.sa())->sin6_addr, 16) == 0;
  };
  if (!peer.reachable() && same_site())
    for (auto& e : peer.real_addresses)
      if (!(e == peer.nat_address)) rd.add_endpoint(proto::AttrType::kPeerEndpoint, e);

  send_request(to.session_index, rd.encode());
}

}  // namespace ntm::dc
