#include "packet/udp_transport.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "proto/relay.h"

namespace ntm::packet {

bool UdpTransport::open(const std::optional<proto::Endpoint>& bind, std::string& error) {
  close();
  proto::Endpoint addr;
  if (bind) {
    addr = *bind;
  } else {
    addr = *proto::Endpoint::parse("[::]:0");
  }
  int family = addr.is_v4() ? AF_INET : AF_INET6;
  fd_ = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0 && !bind) {
    addr = *proto::Endpoint::parse("0.0.0.0:0");
    family = AF_INET;
    fd_ = ::socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  }
  if (fd_ < 0) {
    error = std::string("socket: ") + std::strerror(errno);
    return false;
  }
  v6_ = family == AF_INET6;
  if (v6_) {
    int off = 0;
    setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
  }
  // Large buffers absorb bursts of a fast tunnel: a UDP sender gets no backpressure, so what
  // the receive thread cannot take in time is lost. The kernel caps them at rmem_max/wmem_max
  // unless the process may exceed that (CAP_NET_ADMIN: the *FORCE options).
  int buf = 8 << 20;
  if (setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  if (setsockopt(fd_, SOL_SOCKET, SO_SNDBUFFORCE, &buf, sizeof buf) != 0)
    setsockopt(fd_, SOL_SOCKET, SO_SNDBUF, &buf, sizeof buf);
  if (::bind(fd_, addr.sa(), addr.sa_len()) != 0) {
    error = "bind " + addr.to_string() + ": " + std::strerror(errno);
    close();
    return false;
  }
  return true;
}

bool UdpTransport::enable_gro() {
#ifdef UDP_GRO
  int one = 1;
  return fd_ >= 0 && setsockopt(fd_, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
#else
  return false;
#endif
}

void UdpTransport::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

bool UdpTransport::send(const proto::Endpoint& to, const uint8_t* data, size_t len) const {
  if (v6_ && to.is_v4()) {
    proto::Endpoint m = to.as_v6_mapped();
    return ::sendto(fd_, data, len, MSG_DONTWAIT, m.sa(), m.sa_len()) == ssize_t(len);
  }
  return ::sendto(fd_, data, len, MSG_DONTWAIT, to.sa(), to.sa_len()) == ssize_t(len);
}

bool UdpTransport::send(const Path& path, const uint8_t* data, size_t len) const {
  if (!path.relayed()) return send(path.address, data, len);
  uint8_t header[proto::kRelayHeaderSize];
  proto::write_relay_header(header, path.relay_session);
  proto::Endpoint to = v6_ && path.address.is_v4() ? path.address.as_v6_mapped() : path.address;
  iovec iov[2] = {{header, sizeof header}, {const_cast<uint8_t*>(data), len}};
  msghdr m{};
  m.msg_name = const_cast<sockaddr*>(to.sa());
  m.msg_namelen = to.sa_len();
  m.msg_iov = iov;
  m.msg_iovlen = 2;
  return ::sendmsg(fd_, &m, MSG_DONTWAIT) == ssize_t(sizeof header + len);
}

size_t UdpTransport::send_batch(const Datagram* d, size_t n, bool* sent) {
  // Per sendmmsg call: up to kMaxMessages messages holding up to kMaxDatagrams datagrams.
  constexpr size_t kMaxDatagrams = 256;
  constexpr size_t kHdr = proto::kRelayHeaderSize;
  mmsghdr msgs[kMaxMessages];
  size_t first[kMaxMessages + 1];  // message m carries datagrams first[m] .. first[m + 1] - 1
  proto::Endpoint to[kMaxMessages];
  alignas(cmsghdr) uint8_t control[kMaxMessages][CMSG_SPACE(sizeof(uint16_t))];
  iovec iov[2 * kMaxDatagrams];
  uint8_t relay_header[kMaxDatagrams][kHdr];
  size_t taken = 0;
  for (size_t i = 0; i < n;) {
    size_t nmsg = 0, ndg = 0, niov = 0;
    while (i < n && nmsg < kMaxMessages && ndg < kMaxDatagrams) {
      // One message: datagram i and, with GSO, the datagrams behind it of its size on its path.
      const Path& path = d[i].path;
      size_t extra = path.relayed() ? kHdr : 0, seg = d[i].len + extra, bytes = seg, j = i + 1;
      if (gso_) {
        while (j < n && j - i < kMaxGsoSegments && ndg + (j - i) < kMaxDatagrams &&
               d[j].path == path) {
          size_t s = d[j].len + extra;
          if (s > seg || bytes + s > kMaxGsoBytes) break;
          bytes += s;
          ++j;
          if (s < seg) break;  // only the last segment may be shorter
        }
      }
      msghdr& h = msgs[nmsg].msg_hdr;
      h = {};
      h.msg_iov = &iov[niov];
      for (size_t k = i; k < j; ++k, ++ndg) {
        if (extra) {
          proto::write_relay_header(relay_header[ndg], path.relay_session);
          iov[niov++] = {relay_header[ndg], kHdr};
        }
        iov[niov++] = {const_cast<uint8_t*>(d[k].data), d[k].len};
      }
      h.msg_iovlen = &iov[niov] - h.msg_iov;
      to[nmsg] = v6_ && path.address.is_v4() ? path.address.as_v6_mapped() : path.address;
      h.msg_name = const_cast<sockaddr*>(to[nmsg].sa());
      h.msg_namelen = to[nmsg].sa_len();
      if (j - i > 1) {
        h.msg_control = control[nmsg];
        h.msg_controllen = sizeof control[nmsg];
        cmsghdr* c = CMSG_FIRSTHDR(&h);
        c->cmsg_level = SOL_UDP;
        c->cmsg_type = UDP_SEGMENT;
        c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        uint16_t size = uint16_t(seg);
        std::memcpy(CMSG_DATA(c), &size, sizeof size);
      }
      first[nmsg++] = i;
      i = j;
    }
    first[nmsg] = i;
    for (size_t m = 0; m < nmsg;) {
      int r = ::sendmmsg(fd_, msgs + m, unsigned(nmsg - m), MSG_DONTWAIT);
      if (r > 0) {
        for (size_t k = first[m]; k < first[m + r]; ++k) sent[k] = true;
        taken += first[m + r] - first[m];
        m += size_t(r);
        continue;
      }
      // Message m was refused (sendmmsg reports the error of the first message it could not
      // send). A GSO message goes again datagram by datagram; if the kernel takes them so,
      // it could not segment them, and GSO stays off. A full socket buffer or a refused
      // destination is not GSO's fault.
      int err = r < 0 ? errno : EIO;
      bool run = first[m + 1] - first[m] > 1;
      if (run && err != EAGAIN && err != EWOULDBLOCK && err != ENOBUFS) {
        size_t alone = 0;
        for (size_t k = first[m]; k < first[m + 1]; ++k)
          alone += (sent[k] = send(d[k].path, d[k].data, d[k].len));
        if (alone) gso_ = false;
        taken += alone;
      } else {
        for (size_t k = first[m]; k < first[m + 1]; ++k) sent[k] = false;
      }
      ++m;
    }
  }
  return taken;
}

proto::Endpoint UdpTransport::local() const {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd_, reinterpret_cast<sockaddr*>(&ss), &len);
  return proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&ss), len)
      .value_or(proto::Endpoint());
}

std::vector<proto::Endpoint> UdpTransport::real_addresses() const {
  proto::Endpoint self = local();
  std::vector<proto::Endpoint> out;
  bool wildcard = false;
  if (self.is_v4()) {
    wildcard = reinterpret_cast<const sockaddr_in*>(self.sa())->sin_addr.s_addr == INADDR_ANY;
  } else if (self.is_v6()) {
    wildcard =
        IN6_IS_ADDR_UNSPECIFIED(&reinterpret_cast<const sockaddr_in6*>(self.sa())->sin6_addr);
  }
  if (!wildcard) {
    out.push_back(self);
    return out;
  }
  ifaddrs* ifa = nullptr;
  if (getifaddrs(&ifa) != 0) return out;
  for (ifaddrs* i = ifa; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    int fam = i->ifa_addr->sa_family;
    if (fam == AF_INET6) {
      auto* s6 = reinterpret_cast<sockaddr_in6*>(i->ifa_addr);
      if (IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) || !v6_) continue;
      sockaddr_in6 a = *s6;
      a.sin6_port = htons(self.port());
      a.sin6_scope_id = 0;
      if (auto e = proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&a), sizeof a))
        out.push_back(*e);
    } else if (fam == AF_INET) {
      sockaddr_in a = *reinterpret_cast<sockaddr_in*>(i->ifa_addr);
      a.sin_port = htons(self.port());
      if (auto e = proto::Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&a), sizeof a))
        out.push_back(*e);
    }
    if (out.size() >= 16) break;
  }
  freeifaddrs(ifa);
  return out;
}

}  // namespace ntm::packet
