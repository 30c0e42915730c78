// DC discovery through NS records: c-ares on the asio loop, ldns for the answers
// (dc_locator.h has the steps).
#include "dc/dc_locator.h"

#include <ares.h>
#include <arpa/inet.h>
#include <spdlog/spdlog.h>

#include <algorithm>
// After the C++ headers: ldns/common.h may define bool, true and false as macros.
#include <ldns/ldns.h>

namespace ntm::dc {
namespace {

constexpr uint32_t kMaxTtl = 3600, kMaxNegativeTtl = 300, kDefaultNegativeTtl = 30;
constexpr size_t kMaxCached = 4096;

std::string dname_string(const ldns_rdf* r) {
  char* s = ldns_rdf2str(r);
  std::string out = s ? DcLocator::canonical(s) : std::string();
  free(s);
  return out;
}

struct PktDeleter {
  void operator()(ldns_pkt* p) const { ldns_pkt_free(p); }
};
using Pkt = std::unique_ptr<ldns_pkt, PktDeleter>;

Pkt parse(proto::ByteView answer) {
  ldns_pkt* p = nullptr;
  if (answer.empty() || ldns_wire2pkt(&p, answer.data(), answer.size()) != LDNS_STATUS_OK)
    return nullptr;
  return Pkt(p);
}

/// A or AAAA records of `owner` (lower case, no dot) in `list`: appended to out; least TTL.
uint32_t collect_addresses(const ldns_rr_list* list, const std::string& owner,
                           std::vector<asio::ip::address>& out) {
  uint32_t ttl = 0;
  for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(list, i);
    auto type = ldns_rr_get_type(rr);
    if ((type != LDNS_RR_TYPE_A && type != LDNS_RR_TYPE_AAAA) || ldns_rr_rd_count(rr) != 1 ||
        dname_string(ldns_rr_owner(rr)) != owner)
      continue;
    const ldns_rdf* rd = ldns_rr_rdf(rr, 0);
    if (type == LDNS_RR_TYPE_A && ldns_rdf_size(rd) == 4) {
      asio::ip::address_v4::bytes_type b;
      std::copy_n(ldns_rdf_data(rd), 4, b.begin());
      out.push_back(asio::ip::address_v4(b));
    } else if (type == LDNS_RR_TYPE_AAAA && ldns_rdf_size(rd) == 16) {
      asio::ip::address_v6::bytes_type b;
      std::copy_n(ldns_rdf_data(rd), 16, b.begin());
      out.push_back(asio::ip::address_v6(b));
    } else {
      continue;
    }
    ttl = ttl == 0 ? std::max<uint32_t>(ldns_rr_ttl(rr), 1) : std::min(ttl, ldns_rr_ttl(rr));
  }
  return ttl;
}

/// The negative TTL of an answer (RFC 2308 §5): min(SOA TTL, SOA MINIMUM) of the authority
/// section's SOA, capped; the default without one.
uint32_t negative_ttl(const ldns_pkt* pkt) {
  const ldns_rr_list* auth = ldns_pkt_authority(pkt);
  for (size_t i = 0; auth && i < ldns_rr_list_rr_count(auth); ++i) {
    const ldns_rr* rr = ldns_rr_list_rr(auth, i);
    if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_SOA || ldns_rr_rd_count(rr) != 7) continue;
    const ldns_rdf* min = ldns_rr_rdf(rr, 6);
    if (ldns_rdf_size(min) != 4) continue;
    return std::clamp<uint32_t>(std::min(ldns_rr_ttl(rr), ldns_rdf2native_int32(min)), 1,
                                kMaxNegativeTtl);
  }
  return kDefaultNegativeTtl;
}

void sort_addresses(std::vector<asio::ip::address>& a) {
  std::stable_sort(a.begin(), a.end(),
                   [](const auto& x, const auto& y) { return x.is_v4() && !y.is_v4(); });
  a.erase(std::unique(a.begin(), a.end()), a.end());
}

}  // namespace

/// One lookup in flight: the NS query, then possibly A and AAAA queries.
struct DcLocator::Lookup {
  DcLocator* self;
  std::string zone;
  std::string server;  ///< the name server asked for addresses (no glue)
  std::vector<asio::ip::address> addresses;
  uint32_t ttl = 0;
  int pending = 0;
  std::string detail;
};

/// A socket c-ares asked us to watch. The descriptor is released, never closed: c-ares owns
/// the fd.
struct DcLocator::Watch {
  explicit Watch(asio::io_context& io, int fd) : sd(io, fd) {}
  ~Watch() {
    if (sd.is_open()) sd.release();
  }
  asio::posix::stream_descriptor sd;
  bool want_read = false, want_write = false, reading = false, writing = false;
};

DcLocator::DcLocator(asio::io_context& io, const std::vector<proto::Endpoint>& resolvers,
                     std::chrono::milliseconds try_timeout, int tries)
    : io_(io), timer_(io) {
  static const int init = ares_library_init(ARES_LIB_INIT_ALL);
  if (init != ARES_SUCCESS) {
    error_ = std::string("c-ares: ") + ares_strerror(init);
    return;
  }
  ares_options opts{};
  opts.sock_state_cb = &DcLocator::on_socket_state;
  opts.sock_state_cb_data = this;
  opts.timeout = int(try_timeout.count());
  opts.tries = std::max(tries, 1);
  opts.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
  int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_FLAGS;
  ares_channel ch = nullptr;
  if (int rc = ares_init_options(&ch, &opts, mask); rc != ARES_SUCCESS) {
    error_ = std::string("c-ares: ") + ares_strerror(rc);
    return;
  }
  if (!resolvers.empty()) {
    std::string csv;
    for (auto& r : resolvers) {
      if (!csv.empty()) csv += ',';
      csv += r.to_string();  // "ip:port" or "[v6]:port", what c-ares expects
    }
    if (int rc = ares_set_servers_ports_csv(ch, csv.c_str()); rc != ARES_SUCCESS) {
      error_ = "resolver " + csv + ": " + ares_strerror(rc);
      ares_destroy(ch);
      return;
    }
  }
  channel_ = ch;
}

DcLocator::~DcLocator() {
  *alive_ = false;
  timer_.cancel();
  if (channel_) ares_destroy(channel_);  // calls back with ARES_EDESTRUCTION; closes sockets
  watches_.clear();
}

std::string DcLocator::canonical(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  if (!s.empty() && s.back() == '.') s.pop_back();
  return s;
}

std::string DcLocator::zone_of(const std::string& fqdn) {
  auto dot = fqdn.find('.');
  return dot == std::string::npos ? std::string() : DcLocator::canonical(fqdn.substr(dot + 1));
}

void DcLocator::locate(const std::string& zone, Callback cb) {
  ++stats_.lookups;
  auto now = std::chrono::steady_clock::now();
  if (auto it = cache_.find(zone); it != cache_.end()) {
    if (it->second.expires > now) {
      ++stats_.cache_hits;
      Result r = it->second.result;
      cb(r);
      return;
    }
    cache_.erase(it);
  }
  if (!channel_) {
    ++stats_.failed;
    cb({Status::kFailed, {}, error_});
    return;
  }
  auto& waiters = waiting_[zone];
  waiters.push_back(std::move(cb));
  if (waiters.size() > 1) return;  // a query for the zone is already out
  ++stats_.queries;
  auto* l = new Lookup{this, zone, {}, {}, 0, 1, {}};
  ares_query(channel_, zone.c_str(), LDNS_RR_CLASS_IN, LDNS_RR_TYPE_NS, &DcLocator::on_ns_answer,
             l);
  schedule_timeout();
}

void DcLocator::on_ns_answer(void* arg, int status, int, unsigned char* abuf, int alen) {
  std::unique_ptr<Lookup> l(static_cast<Lookup*>(arg));
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
  DcLocator& self = *l->self;
  if (!abuf || alen <= 0)
    return self.finish(l->zone, {Status::kFailed, {}, ares_strerror(status)}, 0);
  std::vector<std::string> servers;
  std::vector<asio::ip::address> glue;
  uint32_t ttl = 0;
  std::string detail;
  Status st =
      parse_ns_answer(proto::ByteView(abuf, size_t(alen)), l->zone, servers, glue, ttl, detail);
  if (st == Status::kFailed && detail.rfind("malformed", 0) == 0) ++self.stats_.drop_malformed;
  if (st != Status::kFound || !glue.empty())
    return self.finish(l->zone, {st, std::move(glue), std::move(detail)}, ttl);
  // No glue (the name server's name lies outside the zone that answered): ask for it.
  auto* a = new Lookup{&self, l->zone, servers.front(), {}, ttl, 2, {}};
  ++self.stats_.queries;
  ares_query(self.channel_, a->server.c_str(), LDNS_RR_CLASS_IN, LDNS_RR_TYPE_A,
             &DcLocator::on_address_answer, a);
  ++self.stats_.queries;
  ares_query(self.channel_, a->server.c_str(), LDNS_RR_CLASS_IN, LDNS_RR_TYPE_AAAA,
             &DcLocator::on_address_answer, a);
}

void DcLocator::on_address_answer(void* arg, int status, int, unsigned char* abuf, int alen) {
  auto* l = static_cast<Lookup*>(arg);
  bool last = --l->pending == 0;
  std::unique_ptr<Lookup> owner(last ? l : nullptr);
  if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
  if (abuf && alen > 0) {
    uint32_t t = parse_addresses(proto::ByteView(abuf, size_t(alen)), l->server, l->addresses);
    if (t) l->ttl = std::min(l->ttl, t);
  } else if (l->detail.empty()) {
    l->detail = std::string(l->server) + ": " + ares_strerror(status);
  }
  if (!last) return;
  if (l->addresses.empty())
    return l->self->finish(
        l->zone,
        {Status::kFailed,
         {},
         l->detail.empty() ? "name server " + l->server + " has no address" : l->detail},
        0);
  l->self->finish(l->zone, {Status::kFound, std::move(l->addresses), {}}, l->ttl);
}

void DcLocator::finish(const std::string& zone, Result r, uint32_t ttl) {
  sort_addresses(r.addresses);
  switch (r.status) {
    case Status::kFound:
      ++stats_.found;
      break;
    case Status::kNoSuchZone:
      ++stats_.no_such_zone;
      break;
    case Status::kFailed:
      ++stats_.failed;
      break;
  }
  if (r.status != Status::kFailed && ttl > 0) {
    if (cache_.size() >= kMaxCached) {  // drop the expired, then the one expiring first
      auto now = std::chrono::steady_clock::now();
      std::erase_if(cache_, [&](const auto& e) { return e.second.expires <= now; });
      if (cache_.size() >= kMaxCached)
        cache_.erase(std::min_element(cache_.begin(), cache_.end(), [](auto& a, auto& b) {
          return a.second.expires < b.second.expires;
        }));
    }
    cache_[zone] = {
        r, std::chrono::steady_clock::now() + std::chrono::seconds(std::min(ttl, kMaxTtl))};
  }
  auto it = waiting_.find(zone);
  if (it == waiting_.end()) return;
  auto waiters = std::move(it->second);
  waiting_.erase(it);
  for (auto& cb : waiters) cb(r);
}

DcLocator::Status DcLocator::parse_ns_answer(proto::ByteView answer, const std::string& zone,
                                             std::vector<std::string>& servers,
                                             std::vector<asio::ip::address>& glue, uint32_t& ttl,
                                             std::string& detail) {
  Pkt pkt = parse(answer);
  if (!pkt) {
    detail = "malformed answer";
    return Status::kFailed;
  }
  auto rcode = ldns_pkt_get_rcode(pkt.get());
  if (rcode == LDNS_RCODE_NXDOMAIN) {
    ttl = negative_ttl(pkt.get());
    detail = "NXDOMAIN";
    return Status::kNoSuchZone;
  }
  if (rcode != LDNS_RCODE_NOERROR) {
    detail = "answer code " + std::to_string(int(rcode));
    return Status::kFailed;
  }
  uint32_t least = 0;
  for (const ldns_rr_list* list : {ldns_pkt_answer(pkt.get()), ldns_pkt_authority(pkt.get())}) {
    for (size_t i = 0; list && i < ldns_rr_list_rr_count(list); ++i) {
      const ldns_rr* rr = ldns_rr_list_rr(list, i);
      if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_NS || ldns_rr_rd_count(rr) != 1 ||
          dname_string(ldns_rr_owner(rr)) != zone)
        continue;
      std::string ns = dname_string(ldns_rr_rdf(rr, 0));
      if (ns.empty() || std::find(servers.begin(), servers.end(), ns) != servers.end()) continue;
      servers.push_back(ns);
      least =
          least == 0 ? std::max<uint32_t>(ldns_rr_ttl(rr), 1) : std::min(least, ldns_rr_ttl(rr));
    }
  }
  if (servers.empty()) {
    ttl = negative_ttl(pkt.get());
    detail = "no NS record for " + zone;
    return Status::kNoSuchZone;
  }
  for (auto& ns : servers) {
    uint32_t t = collect_addresses(ldns_pkt_additional(pkt.get()), ns, glue);
    if (t) least = std::min(least, t);
  }
  ttl = least;
  return Status::kFound;
}

uint32_t DcLocator::parse_addresses(proto::ByteView answer, const std::string& name,
                                    std::vector<asio::ip::address>& out) {
  Pkt pkt = parse(answer);
  if (!pkt || ldns_pkt_get_rcode(pkt.get()) != LDNS_RCODE_NOERROR) return 0;
  return collect_addresses(ldns_pkt_answer(pkt.get()), DcLocator::canonical(name), out);
}

void DcLocator::on_socket_state(void* data, int fd, int readable, int writable) {
  auto* self = static_cast<DcLocator*>(data);
  if (!readable && !writable) {
    // c-ares calls this before it closes the fd: leave the reactor now (a pending wait ends
    // with operation_aborted), never close it ourselves.
    if (auto it = self->watches_.find(fd); it != self->watches_.end()) {
      if (it->second->sd.is_open()) it->second->sd.release();
      self->watches_.erase(it);
    }
    return;
  }
  auto& w = self->watches_[fd];
  if (!w) w = std::make_shared<Watch>(self->io_, fd);
  w->want_read = readable;
  w->want_write = writable;
  self->arm(fd);
}

void DcLocator::arm(int fd) {
  auto it = watches_.find(fd);
  if (it == watches_.end()) return;
  auto w = it->second;
  std::weak_ptr<bool> alive = alive_;
  auto on_ready = [this, fd, w, alive](bool read, const asio::error_code& ec) {
    (read ? w->reading : w->writing) = false;
    if (ec || alive.expired() || !*alive.lock()) return;
    auto cur = watches_.find(fd);
    if (cur == watches_.end() || cur->second != w) return;  // c-ares closed (or reused) the fd
    ares_process_fd(channel_, read ? fd : ARES_SOCKET_BAD, read ? ARES_SOCKET_BAD : fd);
    arm(fd);
    schedule_timeout();
  };
  if (w->want_read && !w->reading) {
    w->reading = true;
    w->sd.async_wait(asio::posix::descriptor_base::wait_read,
                     [on_ready](const asio::error_code& ec) { on_ready(true, ec); });
  }
  if (w->want_write && !w->writing) {
    w->writing = true;
    w->sd.async_wait(asio::posix::descriptor_base::wait_write,
                     [on_ready](const asio::error_code& ec) { on_ready(false, ec); });
  }
}

void DcLocator::schedule_timeout() {
  if (!channel_) return;
  timeval max{1, 0}, tv{};
  timeval* t = ares_timeout(channel_, &max, &tv);
  auto delay = std::chrono::seconds(t->tv_sec) + std::chrono::microseconds(t->tv_usec);
  timer_.expires_after(delay);
  std::weak_ptr<bool> alive = alive_;
  timer_.async_wait([this, alive](const asio::error_code& ec) {
    if (ec || alive.expired() || !*alive.lock()) return;
    ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);  // handles timeouts
    if (!waiting_.empty()) schedule_timeout();
  });
}

}  // namespace ntm::dc
