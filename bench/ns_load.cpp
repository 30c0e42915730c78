// Idle nodes for bench/ns_idle.sh: opens --count TCP connections to an ntm-ns, each with its
// own static key, and on each makes the node's part of docs/protocol.md §17.1 (message 1,
// message 2, a ping, its pong), so every connection is a confirmed, authenticated node at the
// NS. Then it holds them without sending anything and prints "up N" (N connections
// confirmed) until stdin ends. Sources rotate over 127.0.0.1..127.0.0.--sources so that the
// connections do not run out of ephemeral ports on one address.
//
//   ntm-ns-load --port P --ns-key BASE64 --count N [--sources S] [--first-source F]
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "crypto/cookie.h"
#include "crypto/handshake.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "proto/ns_wire.h"

using namespace ntm;

namespace {

bool read_exact(int fd, uint8_t* p, size_t n) {
  while (n) {
    ssize_t r = ::recv(fd, p, n, 0);
    if (r <= 0) return false;
    p += r;
    n -= size_t(r);
  }
  return true;
}

bool write_all(int fd, const proto::Bytes& b) {
  return ::send(fd, b.data(), b.size(), MSG_NOSIGNAL) == ssize_t(b.size());
}

/// One node: connect from `source`, handshake, ping, pong. The descriptor, or -1.
int join(uint16_t port, const crypto::Key& ns_public, uint32_t source) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(source);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(port);
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    ::close(fd);
    return -1;
  }
  crypto::Key priv;
  randombytes_buf(priv.data(), priv.size());
  crypto::HandshakeInitiator init(priv, ns_public);
  proto::Bytes m1 = init.create_init(1);
  crypto::CookieGenerator(ns_public).add_macs(m1);
  uint8_t resp[2 + proto::kHandshakeRespSize], pong[proto::ns::kSealedFrameSize];
  if (!write_all(fd, proto::ns::encode_frame(m1)) || !read_exact(fd, resp, sizeof resp)) {
    ::close(fd);
    return -1;
  }
  auto r = init.consume_response(proto::ByteView(resp + 2, proto::kHandshakeRespSize));
  if (!r) {
    ::close(fd);
    return -1;
  }
  crypto::Session s(r->send_key, r->recv_key, r->remote_index);
  uint8_t plain = uint8_t(proto::ns::Message::kPing), sealed[proto::ns::kSealedMessageSize];
  s.seal(proto::PacketType::kControl, proto::ByteView(&plain, 1), sealed);
  if (!write_all(fd, proto::ns::encode_frame(proto::ByteView(sealed, sizeof sealed))) ||
      !read_exact(fd, pong, sizeof pong)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

}  // namespace

int main(int argc, char** argv) {
  crypto::init();
  uint16_t port = 0;
  std::string key_text;
  long count = 0, sources = 16, first_source = 1;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--port") port = uint16_t(std::stoul(argv[i + 1]));
    if (a == "--ns-key") key_text = argv[i + 1];
    if (a == "--count") count = std::stol(argv[i + 1]);
    if (a == "--sources") sources = std::stol(argv[i + 1]);
    if (a == "--first-source") first_source = std::stol(argv[i + 1]);
  }
  auto ns_public = crypto::key_from_base64(key_text);
  if (!port || !ns_public || count < 1 || sources < 1 || first_source < 1 ||
      first_source + sources > 255) {
    std::cerr << "usage: ntm-ns-load --port P --ns-key BASE64 --count N [--sources S] "
                 "[--first-source F]\n";
    return 2;
  }
  std::vector<int> fds;
  long failed = 0;
  for (long i = 0; i < count; ++i) {
    int fd = join(port, *ns_public, 0x7f000000u + uint32_t(first_source + i % sources));
    if (fd < 0) {
      if (++failed > 100) break;
      continue;
    }
    fds.push_back(fd);
  }
  std::printf("up %zu failed %ld\n", fds.size(), failed);
  std::fflush(stdout);
  char c;
  while (::read(0, &c, 1) > 0) {
  }
  for (int fd : fds) ::close(fd);
  return 0;
}
