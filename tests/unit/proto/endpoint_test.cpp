// Endpoint: UDP endpoints as configured (text), as seen on a socket (sockaddr) and as carried in
// attributes (7- or 19-byte wire form, docs/protocol.md §5.1). Nodes and the DC compare
// endpoints from all three sources — "is this datagram from my DC?", "is the node reachable?" —
// so equal endpoints must compare equal whichever way they arrived.
#include "proto/endpoint.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <sys/un.h>

#include "printers.h"

#include <cstring>

namespace ntm::proto {
namespace {

Bytes encode(const Endpoint& e) {
  Bytes b;
  Writer w(b);
  e.encode(w);
  return b;
}

std::optional<Endpoint> decode(const Bytes& b) {
  return Endpoint::decode(ByteView(b));
}

sockaddr_in6 v6_sockaddr(const char* addr, uint16_t port) {
  sockaddr_in6 s{};
  s.sin6_family = AF_INET6;
  s.sin6_port = htons(port);
  EXPECT_EQ(inet_pton(AF_INET6, addr, &s.sin6_addr), 1) << addr;
  return s;
}

TEST(EndpointTest, ParsesIpv4) {
  auto e = Endpoint::parse("192.0.2.1:4500");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->is_v4());
  EXPECT_FALSE(e->is_v6());
  EXPECT_TRUE(e->valid());
  EXPECT_EQ(e->port(), 4500);
  EXPECT_EQ(e->sa()->sa_family, AF_INET);
  EXPECT_EQ(e->sa_len(), sizeof(sockaddr_in));
  EXPECT_EQ(e->to_string(), "192.0.2.1:4500");
}

TEST(EndpointTest, ParsesBracketedIpv6) {
  auto e = Endpoint::parse("[2001:db8::1]:65535");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->is_v6());
  EXPECT_EQ(e->port(), 65535);
  EXPECT_EQ(e->sa_len(), sizeof(sockaddr_in6));
  EXPECT_EQ(e->to_string(), "[2001:db8::1]:65535");
  EXPECT_EQ(Endpoint::parse("[::]:0")->to_string(), "[::]:0");
}

TEST(EndpointTest, ToStringParsesBackToTheSameEndpoint) {
  for (const char* text : {"0.0.0.0:0", "255.255.255.255:65535", "[::1]:1", "[fe80::1:2]:53"}) {
    auto e = Endpoint::parse(text);
    ASSERT_TRUE(e) << text;
    EXPECT_EQ(e->to_string(), text);
    EXPECT_EQ(Endpoint::parse(e->to_string()), e);
  }
}

TEST(EndpointTest, RefusesTextThatIsNotIpAndPort) {
  for (const char* text : {"",
                           ":",
                           "192.0.2.1",
                           "192.0.2.1:",
                           ":4500",
                           "192.0.2.1:65536",
                           "192.0.2.1:123456",
                           "192.0.2.1:-1",
                           "192.0.2.1:+1",
                           "192.0.2.1:45a",
                           "192.0.2.1: 45",
                           "192.0.2.256:1",
                           "localhost:4500",
                           "[::1]",
                           "[::1]:",
                           "[::1]4500",
                           "[::1:4500",
                           "::1]:4500",
                           "[]:1",
                           "[zz::1]:1",
                           "2001:db8::1"}) {
    EXPECT_FALSE(Endpoint::parse(text)) << "'" << text << "'";
  }
}

TEST(EndpointTest, Ipv4WireFormIsFamilyPortAddress) {
  auto e = *Endpoint::parse("192.0.2.1:4500");
  Bytes wire = encode(e);
  EXPECT_EQ(wire, (Bytes{4, 0x11, 0x94, 192, 0, 2, 1}));
  EXPECT_EQ(wire.size(), e.encoded_size());
  EXPECT_EQ(decode(wire), e);
}

TEST(EndpointTest, Ipv6WireFormIsFamilyPortAddress) {
  auto e = *Endpoint::parse("[2001:db8::102]:53");
  Bytes wire = encode(e);
  Bytes expected = {6, 0, 53, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x02};
  EXPECT_EQ(wire, expected);
  EXPECT_EQ(wire.size(), e.encoded_size());
  EXPECT_EQ(decode(wire), e);
}

TEST(EndpointTest, DecodeRefusesOtherLengthsAndFamilies) {
  Bytes v4 = encode(*Endpoint::parse("192.0.2.1:1"));
  Bytes v6 = encode(*Endpoint::parse("[::1]:1"));
  EXPECT_FALSE(decode({}));
  for (size_t n = 0; n < 25; ++n) {
    if (n == 7 || n == 19) continue;
    Bytes b(n, 0);
    if (n) b[0] = n < 12 ? 4 : 6;
    EXPECT_FALSE(decode(b)) << n << " bytes";
  }
  Bytes v4_as_6 = v4;
  v4_as_6[0] = 6;  // family says IPv6, length says IPv4
  EXPECT_FALSE(decode(v4_as_6));
  Bytes v6_as_4 = v6;
  v6_as_4[0] = 4;
  EXPECT_FALSE(decode(v6_as_4));
  for (uint8_t family : {0, 1, 2, 10, 41, 255}) {
    v4[0] = family;
    EXPECT_FALSE(decode(v4)) << "family " << int(family);
  }
}

TEST(EndpointTest, FromSockaddrCopiesIpv4AndIpv6) {
  sockaddr_in s4{};
  s4.sin_family = AF_INET;
  s4.sin_port = htons(4500);
  inet_pton(AF_INET, "198.51.100.7", &s4.sin_addr);
  auto e4 = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s4), sizeof s4);
  ASSERT_TRUE(e4);
  EXPECT_EQ(e4, Endpoint::parse("198.51.100.7:4500"));

  sockaddr_in6 s6 = v6_sockaddr("2001:db8::7", 4500);
  s6.sin6_flowinfo = htonl(0x12345);  // per-packet, must not make endpoints differ
  auto e6 = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s6), sizeof s6);
  ASSERT_TRUE(e6);
  EXPECT_EQ(e6, Endpoint::parse("[2001:db8::7]:4500"));
  EXPECT_EQ(reinterpret_cast<const sockaddr_in6*>(e6->sa())->sin6_flowinfo, 0u);
}

TEST(EndpointTest, FromSockaddrRefusesShortLengthsAndOtherFamilies) {
  sockaddr_in s4{};
  s4.sin_family = AF_INET;
  EXPECT_FALSE(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s4), sizeof s4 - 1));
  sockaddr_in6 s6 = v6_sockaddr("::1", 1);
  EXPECT_FALSE(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s6), sizeof s6 - 1));
  EXPECT_FALSE(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s6), sizeof(sockaddr_in)));
  sockaddr_un su{};
  su.sun_family = AF_UNIX;
  EXPECT_FALSE(Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&su), sizeof su));
}

TEST(EndpointTest, FromSockaddrNormalisesV4MappedToIpv4) {
  // What a dual-stack socket reports for an IPv4 peer.
  sockaddr_in6 s6 = v6_sockaddr("::ffff:192.0.2.1", 4500);
  auto e = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&s6), sizeof s6);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->is_v4());
  EXPECT_EQ(e, Endpoint::parse("192.0.2.1:4500"));
  EXPECT_EQ(e->to_string(), "192.0.2.1:4500");
  EXPECT_EQ(encode(*e).size(), 7u);  // advertised in the short IPv4 form
}

TEST(EndpointTest, AsV6MappedRoundTripsThroughADualStackSocketAddress) {
  auto v4 = *Endpoint::parse("203.0.113.9:4500");
  Endpoint mapped = v4.as_v6_mapped();
  ASSERT_TRUE(mapped.is_v6());
  EXPECT_EQ(mapped.port(), 4500);
  EXPECT_EQ(mapped.to_string(), "[::ffff:203.0.113.9]:4500");
  auto back = Endpoint::from_sockaddr(mapped.sa(), mapped.sa_len());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, v4);

  auto v6 = *Endpoint::parse("[2001:db8::9]:4500");
  EXPECT_EQ(v6.as_v6_mapped(), v6);  // IPv6 stays as it is
}

TEST(EndpointTest, EqualityComparesFamilyAddressAndPort) {
  auto a = *Endpoint::parse("192.0.2.1:1");
  EXPECT_EQ(a, *Endpoint::parse("192.0.2.1:1"));
  EXPECT_FALSE(a == *Endpoint::parse("192.0.2.1:2"));
  EXPECT_FALSE(a == *Endpoint::parse("192.0.2.2:1"));
  EXPECT_FALSE(a == a.as_v6_mapped());  // different families: callers normalise first
  auto b = *Endpoint::parse("[2001:db8::1]:1");
  EXPECT_FALSE(b == *Endpoint::parse("[2001:db8::2]:1"));
  EXPECT_FALSE(b == *Endpoint::parse("[2001:db8::1]:2"));
  sockaddr_in6 scoped = v6_sockaddr("fe80::1", 1);
  scoped.sin6_scope_id = 2;
  auto link_local = Endpoint::from_sockaddr(reinterpret_cast<sockaddr*>(&scoped), sizeof scoped);
  EXPECT_FALSE(*link_local == *Endpoint::parse("[fe80::1]:1"));  // another interface
}

TEST(EndpointTest, DefaultEndpointIsInvalid) {
  Endpoint e;
  EXPECT_FALSE(e.valid());
  EXPECT_EQ(e.port(), 0);
  EXPECT_EQ(e.to_string(), "invalid");
  EXPECT_EQ(e, Endpoint());
}

TEST(EndpointTest, DecodeKeepsWhatTheWireSays) {
  // Documented: only from_sockaddr() normalises; a 19-byte IPv4-mapped endpoint stays IPv6.
  Bytes wire = {6, 0x11, 0x94, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
  auto e = decode(wire);
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->is_v6());
  EXPECT_EQ(encode(*e), wire);
}

TEST(EndpointTest, ParseNormalisesV4MappedToIpv4) {
  auto e = Endpoint::parse("[::ffff:192.0.2.1]:4500");
  ASSERT_TRUE(e);
  EXPECT_TRUE(e->is_v4());
  EXPECT_EQ(e, Endpoint::parse("192.0.2.1:4500"));
}

}  // namespace
}  // namespace ntm::proto
