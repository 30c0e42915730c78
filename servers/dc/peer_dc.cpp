// DC⇄DC signaling (paper 002 Fig. 3 steps 3-16, Fig. 5 steps 10-13; docs/protocol.md §16).
//
// As DC_MN, for a direction request naming a node of another zone:
// 1. the zone's DC is its name server: NS query through c-ares (dc_locator.h, step 3)
// 2. DC hello → DC_CN answers with its certificate, signed by an Account Server this DC trusts
//    (servers/common/server_cert.h); its zone must be the one asked for. Cached with the
//    session.
// 3. key distribution (step 4): Noise IK message 1 to DC_CN's certified static key, carrying
//    this DC's own certificate as early data; the IK message 2 is the acknowledgement (step 5)
//    and the split keys are the DC⇄DC shared keys. Renewed after peer-session-lifetime (Fig. 5
//    step 11).
// 4. NTM information request (step 6) naming the CN, and carrying what DC_CN needs to direct
//    its node at once (step 8): the MN's name, key, vIPs and addresses, the direction ID and
//    the temporal key. DC_CN sends the route direction to the CN (step 12) and answers with
//    the NTM information response (steps 7 and 14 in one): the CN's vIPs, key and path
//    candidates, and the MN's relay grant when the path needs a relay.
// 5. direction response and route direction to the MN (steps 15-16); the tunnel request then
//    goes between the nodes as within one zone. Both route directions leave as soon as DC_CN
//    has both nodes' records: setup costs one DC⇄DC round trip once the session exists.
//
// As DC_CN: hellos for its zone get its certificate; a key distribution whose certificate no
// trusted AS signed (or that names another key) is refused, counted and logged; NTM
// information requests may name only MNs of the zone the requesting DC's certificate names.
#include <arpa/inet.h>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <ctime>

#include "common/server_cert.h"
#include "dc/dc_server.h"

namespace ntm::dc {
namespace {

constexpr auto kPeerRetransmit = std::chrono::milliseconds(250);
/// Hellos and key distributions are sent again after 250, 500, 1000, then every 2000 ms.
constexpr uint32_t kPeerBackoffSteps = 3;
/// A zone whose DC did not answer is not asked again for this long.
constexpr auto kPeerUnreachableHold = std::chrono::seconds(10);
constexpr size_t kMaxUnreachable = 4096;
constexpr size_t kMaxForeign = 4096;  ///< foreign directions waiting at once

uint64_t unix_now() {
  return uint64_t(time(nullptr));
}

}  // namespace

uint32_t DcServer::new_index() const {
  uint32_t index;
  do index = crypto::random_u32();
  while (index == 0 || sessions_.count(index) || peer_sessions_.count(index) ||
         peer_by_index_.count(index));
  return index;
}

std::optional<size_t> DcServer::socket_for(const proto::Endpoint& to) const {
  for (size_t i = 0; i < listeners_.size(); ++i)
    if (listeners_[i].v6_only == to.is_v6()) return i;
  return std::nullopt;
}

void DcServer::send_peer(crypto::Session& session, size_t socket, const proto::Endpoint& to,
                         const proto::Bytes& plaintext) {
  proto::Bytes out(plaintext.size() + proto::kSealedOverhead);
  if (session.seal(proto::PacketType::kDcControl, plaintext, out.data()) ==
      crypto::Session::SealStatus::kExhausted)
    return;
  send_to(socket, out, to);
}

// ---- DC_MN ----------------------------------------------------------------------------------

void DcServer::start_foreign_direction(ControlSession& s, uint32_t index,
                                       const proto::ControlMessage& m, const NodeRecord& mn,
                                       const std::string& fqdn) {
  std::string zone = DcLocator::zone_of(fqdn);
  if (!peering_enabled() || !locator_ || zone.empty() || !valid_dns_name(zone))
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kUnknownFqdn,
                                     "no node named " + fqdn + " is registered" +
                                         (peering_enabled() ? ""
                                                            : " (this DC does not ask other "
                                                              "DCs: no dc-cert)")));
  if (auto u = peer_unreachable_.find(zone); u != peer_unreachable_.end()) {
    if (Clock::now() < u->second)
      return respond(s, index, m,
                     proto::make_error(m, proto::ErrorCode::kPeerUnreachable,
                                       "the DC of zone " + zone + " did not answer recently"));
    peer_unreachable_.erase(u);
  }
  if (!foreign_waiting_.insert({index, m.message_id}).second) return;  // a retransmission
  if (foreign_.size() >= kMaxForeign) {
    foreign_waiting_.erase({index, m.message_id});
    return respond(s, index, m,
                   proto::make_error(m, proto::ErrorCode::kRateLimited,
                                     "too many directions to other zones; try again later"));
  }
  uint32_t id = next_message_id_++;
  ForeignDirection& f = foreign_[id];
  f.node_index = index;
  f.mn_identity = mn.identity;
  f.request = m;
  f.cn_fqdn = fqdn;
  f.zone = zone;
  f.direction_id = crypto::random_u32() | 1;
  crypto::random_bytes(f.temporal_key.data(), f.temporal_key.size());
  // Steps 6 and 8 in one message: who the CN is asked for by, and the route direction's data.
  proto::ControlMessage info(proto::MessageType::kNtmInfoRequest, id);
  info.add_string(proto::AttrType::kFqdn, fqdn);
  info.add_u32(proto::AttrType::kDirectionId, f.direction_id);
  info.add(proto::AttrType::kTemporalKey, f.temporal_key);
  info.add_string(proto::AttrType::kPeerFqdn, mn.fqdn);
  info.add(proto::AttrType::kPeerStaticKey, mn.identity);
  if (mn.vip4) info.add(proto::AttrType::kPeerVip4, proto::ByteView(mn.vip4->data(), 4));
  if (mn.vip6) info.add(proto::AttrType::kPeerVip6, proto::ByteView(mn.vip6->data(), 16));
  info.add_endpoint(proto::AttrType::kNatAddress, mn.nat_address);
  for (auto& e : mn.real_addresses) info.add_endpoint(proto::AttrType::kRealAddress, e);
  // The relay that stopped answering the MN is DC_CN's to avoid: DC_CN chooses the relay.
  if (auto failed = m.get_endpoint(proto::AttrType::kFailedRelay))
    info.add_endpoint(proto::AttrType::kFailedRelay, *failed);
  f.info_request = info.encode();
  f.deadline = std::make_unique<asio::steady_timer>(io_);
  f.deadline->expires_after(std::chrono::milliseconds(cfg_.peer_timeout_ms));
  f.deadline->async_wait([this, id](std::error_code ec) {
    if (ec) return;
    auto it = foreign_.find(id);
    if (it == foreign_.end()) return;
    finish_foreign(id,
                   proto::make_error(it->second.request, proto::ErrorCode::kPeerUnreachable,
                                     "the DC of zone " + it->second.zone + " did not answer in " +
                                         std::to_string(cfg_.peer_timeout_ms) + " ms"));
  });
  f.retransmit = std::make_unique<asio::steady_timer>(io_);
  ++stats_.foreign_directions;

  auto [it, fresh] = peers_.try_emplace(zone);
  PeerDc& peer = it->second;
  bool stale =
      peer.state == PeerDc::State::kReady &&
      Clock::now() - peer.session_created > std::chrono::seconds(cfg_.peer_session_lifetime_s);
  if (peer.state == PeerDc::State::kReady && !stale) return send_info_request(id);
  peer.waiting.push_back(id);
  if (stale) {  // renew the shared keys (Fig. 5 step 11): a new key distribution
    if (event_log_.allow()) spdlog::info("renewing the DC⇄DC keys with zone {}", zone);
    for (auto& [fid, fd] : foreign_)
      if (fd.zone == zone && fd.sent && fid != id) {
        fd.sent = false;
        peer.waiting.push_back(fid);
      }
    peer.session.reset();
    peer.state = PeerDc::State::kHandshake;
    peer.tries = 0;
    peer_step(zone);
    return;
  }
  if (!fresh) return;  // already locating, hello or handshake under way
  peer.zone = zone;
  peer.timer = std::make_unique<asio::steady_timer>(io_);
  locator_->locate(zone, [this, zone](const DcLocator::Result& r) { on_located(zone, r); });
}

void DcServer::on_located(const std::string& zone, const DcLocator::Result& r) {
  auto it = peers_.find(zone);
  if (it == peers_.end() || it->second.state != PeerDc::State::kLocating) return;
  PeerDc& peer = it->second;
  if (r.status == DcLocator::Status::kNoSuchZone)
    return peer_failed(zone, proto::ErrorCode::kUnknownFqdn,
                       "no DC serves zone " + zone + " (" + r.detail + ")");
  if (r.status == DcLocator::Status::kFailed)
    return peer_failed(zone, proto::ErrorCode::kPeerUnreachable,
                       "cannot find the DC of zone " + zone + ": " + r.detail);
  for (auto& a : r.addresses) {
    auto e = proto::Endpoint::parse((a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" +
                                    std::to_string(cfg_.peer_dc_port));
    if (!e) continue;
    if (auto sock = socket_for(*e)) {
      peer.endpoint = *e;
      peer.socket = *sock;
      peer.state = PeerDc::State::kHello;
      peer.tries = 0;
      spdlog::debug("zone {}: DC at {}", zone, e->to_string());
      return peer_step(zone);
    }
  }
  peer_failed(zone, proto::ErrorCode::kPeerUnreachable,
              "the DC of zone " + zone + " has no address in a family this DC listens on");
}

void DcServer::peer_step(const std::string& zone) {
  auto it = peers_.find(zone);
  if (it == peers_.end()) return;
  PeerDc& peer = it->second;
  // Nobody waits any more (their deadlines passed): forget a peer that never became ready.
  std::erase_if(peer.waiting, [&](uint32_t id) { return !foreign_.count(id); });
  if (peer.waiting.empty() && peer.state != PeerDc::State::kReady) {
    if (peer.state != PeerDc::State::kLocating) {  // it never answered
      if (peer_unreachable_.size() >= kMaxUnreachable) peer_unreachable_.clear();
      peer_unreachable_[zone] = Clock::now() + kPeerUnreachableHold;
      if (event_log_.allow())
        spdlog::info("zone {}: its DC at {} did not answer; not asked again for {} s", zone,
                     peer.endpoint.to_string(), kPeerUnreachableHold.count());
    }
    peer_by_index_.erase(peer.local_index);
    peers_.erase(it);
    return;
  }
  if (peer.state == PeerDc::State::kHello) {
    proto::Bytes hello(kDcHelloSize, 0);
    hello[0] = uint8_t(proto::PacketType::kDcHello);
    hello[4] = uint8_t(zone.size());
    std::copy(zone.begin(), zone.end(), hello.begin() + 5);
    send_to(peer.socket, hello, peer.endpoint);
  } else if (peer.state == PeerDc::State::kHandshake) {
    if (!peer.initiator) {
      peer_by_index_.erase(peer.local_index);
      peer.local_index = new_index();
      peer_by_index_[peer.local_index] = zone;
      peer.initiator = std::make_unique<crypto::HandshakeInitiator>(
          key_.private_key, peer.static_key, crypto::kDcDcHandshake);
      peer.cookies = std::make_unique<crypto::CookieGenerator>(peer.static_key);
    }
    proto::Bytes init = peer.initiator->create_init(peer.local_index, *cfg_.dc_cert);
    peer.cookies->add_macs(init);
    send_to(peer.socket, init, peer.endpoint);
  } else {
    return;  // ready, or locating (the locator calls back)
  }
  peer.timer->expires_after(kPeerRetransmit * (1u << std::min(peer.tries++, kPeerBackoffSteps)));
  peer.timer->async_wait([this, zone](std::error_code ec) {
    if (!ec) peer_step(zone);
  });
}

void DcServer::peer_failed(const std::string& zone, proto::ErrorCode code,
                           const std::string& text) {
  auto it = peers_.find(zone);
  if (it == peers_.end()) return;
  std::vector<uint32_t> waiting = std::move(it->second.waiting);
  if (code == proto::ErrorCode::kPeerUnreachable &&
      it->second.state != PeerDc::State::kLocating) {  // it answered, but not acceptably
    if (peer_unreachable_.size() >= kMaxUnreachable) peer_unreachable_.clear();
    peer_unreachable_[zone] = Clock::now() + kPeerUnreachableHold;
  }
  peer_by_index_.erase(it->second.local_index);
  peers_.erase(it);
  if (event_log_.allow()) spdlog::info("zone {}: {}", zone, text);
  for (uint32_t id : waiting) {
    auto f = foreign_.find(id);
    if (f != foreign_.end()) finish_foreign(id, proto::make_error(f->second.request, code, text));
  }
}

void DcServer::send_info_request(uint32_t id) {
  auto f = foreign_.find(id);
  if (f == foreign_.end()) return;
  auto p = peers_.find(f->second.zone);
  if (p == peers_.end() || p->second.state != PeerDc::State::kReady) {
    f->second.sent = false;
    return;
  }
  PeerDc& peer = p->second;
  ForeignDirection& fd = f->second;
  if (fd.sent) proto::put_u16(&fd.info_request[2], proto::kFlagRetransmission);
  fd.sent = true;
  send_peer(*peer.session, peer.socket, peer.endpoint, fd.info_request);
  fd.retransmit->expires_after(kPeerRetransmit);
  fd.retransmit->async_wait([this, id](std::error_code ec) {
    auto f = foreign_.find(id);
    if (!ec && f != foreign_.end() && f->second.sent) send_info_request(id);
  });
}

void DcServer::finish_foreign(uint32_t id, proto::ControlMessage answer) {
  auto f = foreign_.find(id);
  if (f == foreign_.end()) return;
  ForeignDirection& fd = f->second;
  if (answer.type == proto::MessageType::kError) ++stats_.foreign_failed;
  auto s = sessions_.find(fd.node_index);
  if (s != sessions_.end()) respond(s->second, fd.node_index, fd.request, std::move(answer));
  foreign_waiting_.erase({fd.node_index, fd.request.message_id});
  sodium_memzero(fd.temporal_key.data(), fd.temporal_key.size());
  foreign_.erase(f);  // its timers go with it (their handlers find no entry)
}

void DcServer::on_dc_certificate(proto::ByteView d, const proto::Endpoint& from) {
  PeerDc* peer = nullptr;
  for (auto& [zone, p] : peers_)
    if (p.state == PeerDc::State::kHello && p.endpoint == from) peer = &p;
  if (!peer || d.size() < 4 || (d[1] | d[2] | d[3]))
    return drop(stats_.drop_peer, from, "DC certificate nobody asked for");
  server::ServerCert cert;
  auto err = server::verify_cert(d.subspan(4), cfg_.trusted_as, unix_now(), &cert);
  std::string zone = peer->zone;
  if (err != server::CertError::kOk || cert.name != zone) {
    ++stats_.drop_peer_cert;
    std::string why =
        err != server::CertError::kOk ? server::to_string(err) : "it names zone " + cert.name;
    spdlog::warn("refused the DC of zone {} at {}: its certificate does not hold ({})", zone,
                 from.to_string(), why);
    return peer_failed(zone, proto::ErrorCode::kPeerUnreachable,
                       "the DC of zone " + zone +
                           " is not vouched for by a trusted Account "
                           "Server (" +
                           why + ")");
  }
  peer->static_key = cert.static_key;
  peer->state = PeerDc::State::kHandshake;
  peer->tries = 0;
  peer->initiator.reset();
  peer->timer->cancel();
  peer_step(zone);
}

void DcServer::on_dc_handshake_resp(proto::ByteView d, const proto::Endpoint& from) {
  if (d.size() != proto::kHandshakeRespSize)
    return drop(stats_.drop_malformed, from, "DC key distribution ack of wrong size");
  auto z = peer_by_index_.find(proto::get_u32(&d[8]));
  if (z == peer_by_index_.end())
    return drop(stats_.drop_peer, from, "DC key distribution ack for no handshake");
  auto p = peers_.find(z->second);
  if (p == peers_.end() || p->second.state != PeerDc::State::kHandshake || !p->second.initiator ||
      !(p->second.endpoint == from))
    return drop(stats_.drop_peer, from, "DC key distribution ack not expected");
  PeerDc& peer = p->second;
  auto r = peer.initiator->consume_response(d);
  if (!r) return drop(stats_.drop_handshake, from, "DC key distribution ack not authentic");
  peer.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  sodium_memzero(r->send_key.data(), r->send_key.size());
  sodium_memzero(r->recv_key.data(), r->recv_key.size());
  peer.initiator.reset();
  peer.session_created = Clock::now();
  peer.state = PeerDc::State::kReady;
  peer.timer->cancel();
  spdlog::info("DC⇄DC keys with zone {} at {}", peer.zone, from.to_string());
  std::vector<uint32_t> waiting = std::move(peer.waiting);
  peer.waiting.clear();
  for (uint32_t id : waiting) send_info_request(id);
}

void DcServer::on_info_answer(PeerDc& peer, const proto::ControlMessage& m) {
  auto f = foreign_.find(m.message_id);
  if (f == foreign_.end() || f->second.zone != peer.zone) return;  // late or not ours
  ForeignDirection& fd = f->second;
  if (m.type == proto::MessageType::kError) {
    auto code = proto::ErrorCode(m.get_u16(proto::AttrType::kErrorCode).value_or(0));
    if (code != proto::ErrorCode::kUnknownFqdn && code != proto::ErrorCode::kPeerUnreachable &&
        code != proto::ErrorCode::kRateLimited)
      code = proto::ErrorCode::kPeerUnreachable;
    std::string text =
        "DC of zone " + peer.zone + ": " +
        server::printable(m.get_string(proto::AttrType::kErrorText).value_or("?"), 150);
    return finish_foreign(m.message_id, proto::make_error(fd.request, code, text));
  }
  if (m.type != proto::MessageType::kNtmInfoResponse) return;
  NodeRecord cn;
  auto key = m.get_key(proto::AttrType::kPeerStaticKey);
  auto v4 = m.get_fixed<4>(proto::AttrType::kPeerVip4);
  auto v6 = m.get_fixed<16>(proto::AttrType::kPeerVip6);
  if (DcLocator::canonical(m.get_string(proto::AttrType::kFqdn).value_or("")) != fd.cn_fqdn ||
      !key || (!v4 && !v6))
    return finish_foreign(
        m.message_id,
        proto::make_error(fd.request, proto::ErrorCode::kPeerUnreachable,
                          "the DC of zone " + peer.zone + " gave an incomplete answer"));
  NodeRecord* mn = registry_.find(fd.mn_identity);
  auto s = sessions_.find(fd.node_index);
  if (!mn || mn->session_index != fd.node_index || s == sessions_.end()) {
    foreign_waiting_.erase({fd.node_index, fd.request.message_id});
    foreign_.erase(f);  // the MN is gone; DC_CN's route direction to the CN leads nowhere
    return;
  }
  cn.identity = *key;
  cn.fqdn = fd.cn_fqdn;
  if (v4) cn.vip4 = Address{}, std::copy(v4->begin(), v4->end(), cn.vip4->begin());
  if (v6) cn.vip6 = Address{}, std::copy(v6->begin(), v6->end(), cn.vip6->begin());
  std::optional<RelayGrant> grant;
  if (auto relay = m.get_endpoint(proto::AttrType::kRelayEndpoint)) {
    auto ticket = m.find(proto::AttrType::kRelayTicket);
    auto rkey = m.get_key(proto::AttrType::kRelayKey);
    auto side = m.get_u8(proto::AttrType::kRelaySide);
    if (ticket && rkey && side)
      grant = RelayGrant{*relay, proto::Bytes(ticket->value.begin(), ticket->value.end()), *rkey,
                         *side};
  }
  std::vector<proto::Candidate> candidates = m.get_candidates();
  if (candidates.size() > 8) candidates.resize(8);

  proto::ControlMessage resp(proto::MessageType::kDirectionResponse, fd.request.message_id);
  resp.add_string(proto::AttrType::kFqdn, cn.fqdn);
  if (cn.vip4) resp.add(proto::AttrType::kPeerVip4, proto::ByteView(cn.vip4->data(), 4));
  if (cn.vip6) resp.add(proto::AttrType::kPeerVip6, proto::ByteView(cn.vip6->data(), 16));
  resp.add_u32(proto::AttrType::kDirectionId, fd.direction_id);
  resp.add(proto::AttrType::kPeerStaticKey, cn.identity);
  ++stats_.directions;
  if (event_log_.allow())
    spdlog::info("direction {} -> {} id {:08x} through the DC of zone {}: {} candidates{}",
                 mn->fqdn, cn.fqdn, fd.direction_id, peer.zone, candidates.size(),
                 grant ? ", relay " + grant->endpoint.to_string() : "");
  // As within one zone: the direction response, then the route direction (step 15).
  uint32_t direction_id = fd.direction_id;
  crypto::Key temporal_key = fd.temporal_key;
  finish_foreign(m.message_id, std::move(resp));
  send_route_direction(*mn, cn, direction_id, temporal_key, proto::Role::kResponder, candidates,
                       grant ? &*grant : nullptr);
  sodium_memzero(temporal_key.data(), temporal_key.size());
  if (grant) sodium_memzero(grant->key.data(), grant->key.size());
}

// ---- DC_CN ----------------------------------------------------------------------------------

void DcServer::on_dc_hello(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  if (d.size() != kDcHelloSize || (d[1] | d[2] | d[3]) || d[4] == 0 || d[4] > 253)
    return drop(stats_.drop_malformed, from, "DC hello of wrong size or layout");
  if (!std::all_of(d.begin() + 5 + d[4], d.end(), [](uint8_t b) { return b == 0; }))
    return drop(stats_.drop_malformed, from, "DC hello padding not zero");
  std::string zone = DcLocator::canonical(std::string(reinterpret_cast<const char*>(&d[5]), d[4]));
  if (!peering_enabled() || zone != registry_.domain())
    return drop(stats_.drop_peer, from, "DC hello for a zone this DC does not serve");
  if (!handshake_limiter_.allow(from))
    return drop(stats_.drop_ratelimit, from, "DC hello rate of this source exceeded");
  proto::Bytes out{uint8_t(proto::PacketType::kDcCertificate), 0, 0, 0};
  out.insert(out.end(), cfg_.dc_cert->begin(), cfg_.dc_cert->end());
  ++stats_.peer_hellos;
  send_to(socket, out, from);
}

void DcServer::on_dc_handshake_init(size_t socket, proto::ByteView d, const proto::Endpoint& from) {
  size_t early = d.size() - std::min(d.size(), proto::kHandshakeInitSize);
  if (!peering_enabled() || !peer_responder_)
    return drop(stats_.drop_peer, from, "DC key distribution, but this DC has no dc-cert");
  if (d.size() < proto::kHandshakeInitSize || early < server::kCertMinSize + proto::kTagSize ||
      early > server::kCertMaxSize + proto::kTagSize)
    return drop(stats_.drop_malformed, from, "DC key distribution of wrong size");
  if (!cookies_.check_mac1(d))
    return drop(stats_.drop_mac, from, "DC key distribution with a bad mac1");
  if (!handshake_limiter_.allow(from))
    return drop(stats_.drop_ratelimit, from, "DC handshake rate of this source exceeded");
  uint32_t index = new_index();
  proto::Bytes response;
  auto r = peer_responder_->consume_init(d, index, response);
  if (!r) return drop(stats_.drop_handshake, from, "DC key distribution not authentic");
  server::ServerCert cert;
  auto err = server::verify_cert(r->early, cfg_.trusted_as, unix_now(), &cert);
  if (err != server::CertError::kOk || cert.static_key != r->remote_static) {
    ++stats_.drop_peer_cert;
    spdlog::warn("refused a DC at {} (key {}): {}", from.to_string(),
                 crypto::key_to_base64(r->remote_static),
                 err != server::CertError::kOk
                     ? std::string("its certificate does not hold: ") + server::to_string(err)
                     : std::string("its certificate names another key"));
    return;
  }
  auto last = peer_last_init_.find(r->remote_static);
  if (last != peer_last_init_.end() && !(last->second < r->timestamp))
    return drop(stats_.drop_replay, from, "replayed DC key distribution");
  peer_last_init_[r->remote_static] = r->timestamp;
  if (auto old = peer_session_by_key_.find(r->remote_static); old != peer_session_by_key_.end())
    peer_sessions_.erase(old->second);  // its renewed keys replace the old ones
  PeerSession p;
  p.session = std::make_unique<crypto::Session>(r->send_key, r->recv_key, r->remote_index);
  sodium_memzero(r->send_key.data(), r->send_key.size());
  sodium_memzero(r->recv_key.data(), r->recv_key.size());
  p.zone = cert.name;
  p.static_key = r->remote_static;
  p.endpoint = from;
  p.socket = socket;
  p.created = p.last_seen = Clock::now();
  peer_session_by_key_[r->remote_static] = index;
  peer_sessions_.emplace(index, std::move(p));
  ++stats_.peer_sessions;
  spdlog::info("DC⇄DC keys with the DC of zone {} at {}", cert.name, from.to_string());
  send_to(socket, response, from);
}

void DcServer::on_dc_control(proto::ByteView d, const proto::Endpoint& from) {
  crypto::SealedHeader h;
  if (!crypto::parse_sealed_header(d, h))
    return drop(stats_.drop_malformed, from, "DC control packet too short or bad header");
  crypto::Session* session = nullptr;
  PeerSession* in = nullptr;
  PeerDc* out = nullptr;
  if (auto p = peer_sessions_.find(h.receiver_index); p != peer_sessions_.end()) {
    in = &p->second;
    session = in->session.get();
  } else if (auto z = peer_by_index_.find(h.receiver_index); z != peer_by_index_.end()) {
    auto pd = peers_.find(z->second);
    if (pd != peers_.end() && pd->second.session) {
      out = &pd->second;
      session = out->session.get();
    }
  }
  if (!session) return drop(stats_.drop_unknown_session, from, "DC control for no session");
  proto::Bytes plain(d.size() - proto::kSealedOverhead);
  switch (session->open(h, d, plain.data())) {
    case crypto::Session::OpenStatus::kOk:
      break;
    case crypto::Session::OpenStatus::kAuthFailed:
      return drop(stats_.drop_auth, from, "DC control packet failed authentication");
    default:
      return drop(stats_.drop_replay, from, "replayed DC control packet");
  }
  proto::DecodeError err;
  auto m = proto::ControlMessage::decode(plain, err);
  if (!m) return drop(stats_.drop_malformed, from, proto::to_string(err));
  if (out) return on_info_answer(*out, *m);
  in->last_seen = Clock::now();
  in->endpoint = from;  // authenticated: answers go where the peer DC is now
  if (m->type != proto::MessageType::kNtmInfoRequest)
    return drop(stats_.drop_peer, from, "DC control message other than an NTM information request");
  if (const proto::Bytes* cached = responses_.find(h.receiver_index, m->message_id))
    return send_peer(*in->session, in->socket, in->endpoint, *cached);
  if (!in->requests.allow())
    return drop(stats_.drop_ratelimit, from, "peer DC over its request rate");
  on_info_request(*in, h.receiver_index, *m);
}

void DcServer::on_info_request(PeerSession& p, uint32_t index, const proto::ControlMessage& m) {
  ++stats_.peer_info_requests;
  auto answer = [&](proto::ControlMessage resp) {
    resp.message_id = m.message_id;
    proto::Bytes plain = resp.encode();
    send_peer(*p.session, p.socket, p.endpoint, plain);
    responses_.insert(index, m.message_id, std::move(plain));
  };
  std::string cn_fqdn = DcLocator::canonical(m.get_string(proto::AttrType::kFqdn).value_or(""));
  std::string mn_fqdn = DcLocator::canonical(m.get_string(proto::AttrType::kPeerFqdn).value_or(""));
  auto mn_key = m.get_key(proto::AttrType::kPeerStaticKey);
  auto direction_id = m.get_u32(proto::AttrType::kDirectionId);
  auto temporal_key = m.get_key(proto::AttrType::kTemporalKey);
  auto nat = m.get_endpoint(proto::AttrType::kNatAddress);
  if (cn_fqdn.empty() || mn_fqdn.empty() || !mn_key || !direction_id || !temporal_key || !nat)
    return answer(proto::make_error(m, proto::ErrorCode::kMalformed,
                                    "NTM information request misses an attribute"));
  // A DC speaks only for the names of the zone its certificate names: it cannot direct one of
  // our nodes to a key under a name of a third zone.
  if (DcLocator::zone_of(mn_fqdn) != p.zone) {
    if (event_log_.allow())
      spdlog::warn("the DC of zone {} asked for {} on behalf of {}: refused", p.zone,
                   server::printable(cn_fqdn), server::printable(mn_fqdn));
    return answer(proto::make_error(m, proto::ErrorCode::kTunnelRefused,
                                    "a DC may direct tunnels only for its own zone's nodes"));
  }
  NodeRecord* cn = registry_.find_fqdn(cn_fqdn);
  if (!cn)
    return answer(proto::make_error(m, proto::ErrorCode::kUnknownFqdn,
                                    "no node named " + cn_fqdn + " is registered"));
  NodeRecord mn;
  mn.identity = *mn_key;
  mn.fqdn = mn_fqdn;
  if (auto v4 = m.get_fixed<4>(proto::AttrType::kPeerVip4))
    mn.vip4 = Address{}, std::copy(v4->begin(), v4->end(), mn.vip4->begin());
  if (auto v6 = m.get_fixed<16>(proto::AttrType::kPeerVip6))
    mn.vip6 = Address{}, std::copy(v6->begin(), v6->end(), mn.vip6->begin());
  if (!mn.vip4 && !mn.vip6)
    return answer(proto::make_error(m, proto::ErrorCode::kMalformed, "the MN has no vIP"));
  mn.nat_address = *nat;
  mn.real_addresses = m.get_endpoints(proto::AttrType::kRealAddress);
  if (mn.real_addresses.size() > 16) mn.real_addresses.resize(16);
  DirectionPlan plan;
  if (auto error = plan_direction(mn, *cn, m, plan)) return answer(*error);
  ++stats_.directions;
  if (event_log_.allow())
    spdlog::info("direction {} (zone {}) -> {} id {:08x}: {} candidates{}", mn.fqdn, p.zone,
                 cn->fqdn, *direction_id, plan.to_mn.size(),
                 plan.grant_cn ? ", relay " + plan.grant_cn->endpoint.to_string() : "");
  send_route_direction(*cn, mn, *direction_id, *temporal_key, proto::Role::kInitiator, plan.to_mn,
                       plan.grant_cn ? &*plan.grant_cn : nullptr);                 // step 12
  proto::ControlMessage resp(proto::MessageType::kNtmInfoResponse, m.message_id);  // 7, 14
  resp.add_string(proto::AttrType::kFqdn, cn->fqdn);
  if (cn->vip4) resp.add(proto::AttrType::kPeerVip4, proto::ByteView(cn->vip4->data(), 4));
  if (cn->vip6) resp.add(proto::AttrType::kPeerVip6, proto::ByteView(cn->vip6->data(), 16));
  resp.add(proto::AttrType::kPeerStaticKey, cn->identity);
  for (auto& c : plan.to_cn) resp.add_candidate(c);
  if (plan.grant_mn) {
    resp.add_endpoint(proto::AttrType::kRelayEndpoint, plan.grant_mn->endpoint);
    resp.add(proto::AttrType::kRelayTicket, plan.grant_mn->ticket);
    resp.add(proto::AttrType::kRelayKey, plan.grant_mn->key);
    resp.add_u8(proto::AttrType::kRelaySide, plan.grant_mn->side);
  }
  answer(std::move(resp));
  for (auto* g : {&plan.grant_cn, &plan.grant_mn})
    if (*g) sodium_memzero((*g)->key.data(), (*g)->key.size());
}

void DcServer::expire_peers(Clock::time_point now) {
  // A peer DC renews its keys after the lifetime; sessions older than that (plus a minute for
  // directions in flight) or idle that long are gone.
  auto lifetime = std::chrono::seconds(cfg_.peer_session_lifetime_s);
  for (auto it = peer_sessions_.begin(); it != peer_sessions_.end();) {
    if (now - it->second.created > lifetime + std::chrono::seconds(60) ||
        now - it->second.last_seen > lifetime) {
      auto k = peer_session_by_key_.find(it->second.static_key);
      if (k != peer_session_by_key_.end() && k->second == it->first) peer_session_by_key_.erase(k);
      it = peer_sessions_.erase(it);
    } else {
      ++it;
    }
  }
  // Our own sessions: one past its lifetime with nobody waiting and no NTM information
  // request in flight on it is dropped (the next direction makes a new one).
  for (auto it = peers_.begin(); it != peers_.end();) {
    PeerDc& p = it->second;
    bool in_flight = std::any_of(foreign_.begin(), foreign_.end(), [&](const auto& f) {
      return f.second.sent && f.second.zone == it->first;
    });
    if (p.state == PeerDc::State::kReady && p.waiting.empty() && !in_flight &&
        now - p.session_created > lifetime) {
      peer_by_index_.erase(p.local_index);
      it = peers_.erase(it);
    } else {
      ++it;
    }
  }
  std::erase_if(peer_unreachable_, [&](const auto& e) { return now >= e.second; });
  // peer_last_init_ keeps its entries: only DCs with a valid certificate get one (a few
  // keys), and forgetting a timestamp would let an old key distribution replay.
}

}  // namespace ntm::dc
