// The DC as the authoritative DNS server of its zone, asked with the real `dig` (bind9's):
// NS and SOA of the zone, A/AAAA of a registered node (its vIPs), NXDOMAIN and REFUSED, over
// UDP and TCP, IPv4 and IPv6. Hostile DNS datagrams and connections leave the DC serving.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <random>

#include "dc_fixture.h"

namespace ntm::test {
namespace {

using namespace std::chrono_literals;

/// What dig printed: the status, the header flags and the records of each section, each
/// record as "name ttl class type data".
struct DigAnswer {
  int exit_code = -1;
  std::string status, flags, text;
  std::vector<std::string> answer, authority, additional;
  bool has_flag(const std::string& f) const {
    std::istringstream in(flags);
    std::string tok;
    while (in >> tok)
      if (tok == f) return true;
    return false;
  }
};

/// A free port on 127.0.0.1 for both UDP and TCP (and on ::1 for TCP).
uint16_t free_dns_port() {
  for (int i = 0; i < 50; ++i) {
    uint16_t port = free_udp_port();
    bool ok = true;
    for (int fam : {AF_INET, AF_INET6}) {
      int s = socket(fam, SOCK_STREAM, 0);
      sockaddr_storage a{};
      socklen_t len;
      if (fam == AF_INET) {
        auto* a4 = reinterpret_cast<sockaddr_in*>(&a);
        a4->sin_family = AF_INET, a4->sin_port = htons(port);
        a4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a4;
      } else {
        auto* a6 = reinterpret_cast<sockaddr_in6*>(&a);
        a6->sin6_family = AF_INET6, a6->sin6_port = htons(port);
        a6->sin6_addr = in6addr_loopback;
        len = sizeof *a6;
      }
      ok = ok && bind(s, reinterpret_cast<sockaddr*>(&a), len) == 0;
      close(s);
    }
    if (ok) return port;
  }
  return 0;
}

class DnsTest : public DcFixture {
 protected:
  void start_dns_dc(std::vector<std::string> extra = {}) {
    dns_port_ = free_dns_port();
    ASSERT_NE(dns_port_, 0);
    std::vector<std::string> args = {"--dns-port",     std::to_string(dns_port_),
                                     "--dns-listen",   "127.0.0.1",
                                     "--dns-listen",   "::1",
                                     "--dns-address",  "127.0.0.1",
                                     "--dns-address",  "::1",
                                     "--dns-node-ttl", "20"};
    args.insert(args.end(), extra.begin(), extra.end());
    start_dc(args);
  }

  DigAnswer dig(std::vector<std::string> args, const std::string& server = "127.0.0.1") {
    std::vector<std::string> argv = {
        "dig", "@" + server, "-p", std::to_string(dns_port_), "+time=3", "+tries=2", "+norecurse"};
    argv.insert(argv.end(), args.begin(), args.end());
    // Process runs a path; dig is in /usr/bin on Debian (bind9-dnsutils).
    argv[0] = "/usr/bin/dig";
    Process p(argv);
    DigAnswer out;
    std::vector<std::string>* section = nullptr;
    while (auto line = p.read_line(15s)) {
      out.text += *line + "\n";
      const std::string& l = *line;
      if (auto at = l.find("status: "); at != std::string::npos)
        out.status = l.substr(at + 8, l.find(',', at) - at - 8);
      if (l.rfind(";; flags:", 0) == 0) out.flags = l.substr(9, l.find(';', 9) - 9);
      if (l == ";; ANSWER SECTION:")
        section = &out.answer;
      else if (l == ";; AUTHORITY SECTION:")
        section = &out.authority;
      else if (l == ";; ADDITIONAL SECTION:")
        section = &out.additional;
      else if (l.empty() || l[0] == ';') {
        if (l.empty()) section = nullptr;
      } else if (section) {
        std::istringstream in(l);  // tabs and spaces collapse into single spaces
        std::string tok, rec;
        while (in >> tok) rec += (rec.empty() ? "" : " ") + tok;
        section->push_back(rec);
      }
    }
    out.exit_code = p.wait(10s).value_or(-1);
    return out;
  }

  /// Starts node `name` and returns its "info" fields (fqdn, vip4, vip6).
  std::map<std::string, std::string> register_node(const std::string& name) {
    nodes_.push_back(node(name, {"info"}));
    auto line = nodes_.back()->wait_for_line("info ", 30s);
    EXPECT_TRUE(line) << name << " did not register";
    return line ? fields(*line) : std::map<std::string, std::string>{};
  }

  /// The DC's "dns: ..." counters line, printed when it stops.
  std::string stop_and_read_dns_counters() {
    dc_->signal(SIGTERM);
    EXPECT_EQ(dc_->wait(10s), 0);
    std::string log = read_dc_log();
    auto at = log.find("dns: ", log.find("stopping on signal"));
    if (at == std::string::npos) {
      ADD_FAILURE() << "no dns counters in the DC log:\n" << log;
      return "";
    }
    return log.substr(at, log.find('\n', at) - at);
  }

  uint16_t dns_port_ = 0;
  std::vector<std::unique_ptr<Process>> nodes_;
};

TEST_F(DnsTest, TheZoneAnswersNsSoaAndItsNodes) {
  start_dns_dc();
  auto laptop = register_node("laptop");
  ASSERT_EQ(laptop["fqdn"], fqdn("laptop"));

  auto ns = dig({"NS", domain_});
  ASSERT_EQ(ns.exit_code, 0) << ns.text;
  EXPECT_EQ(ns.status, "NOERROR") << ns.text;
  EXPECT_TRUE(ns.has_flag("aa")) << ns.text;
  EXPECT_FALSE(ns.has_flag("ra")) << ns.text;
  EXPECT_EQ(ns.answer, std::vector<std::string>{domain_ + ". 3600 IN NS ns." + domain_ + "."});
  EXPECT_EQ(ns.additional, (std::vector<std::string>{"ns." + domain_ + ". 3600 IN A 127.0.0.1",
                                                     "ns." + domain_ + ". 3600 IN AAAA ::1"}))
      << ns.text;

  auto soa = dig({"SOA", domain_});
  EXPECT_EQ(soa.status, "NOERROR");
  ASSERT_EQ(soa.answer.size(), 1u) << soa.text;
  EXPECT_EQ(soa.answer[0].rfind(
                domain_ + ". 3600 IN SOA ns." + domain_ + ". hostmaster." + domain_ + ". ", 0),
            0u)
      << soa.text;

  auto a = dig({"A", fqdn("laptop")});
  EXPECT_EQ(a.status, "NOERROR");
  EXPECT_TRUE(a.has_flag("aa"));
  EXPECT_EQ(a.answer, std::vector<std::string>{fqdn("laptop") + ". 20 IN A " + laptop["vip4"]})
      << a.text;
  auto aaaa = dig({"AAAA", fqdn("laptop")});
  EXPECT_EQ(aaaa.answer,
            std::vector<std::string>{fqdn("laptop") + ". 20 IN AAAA " + laptop["vip6"]})
      << aaaa.text;

  auto nx = dig({"A", fqdn("nobody")});
  EXPECT_EQ(nx.status, "NXDOMAIN") << nx.text;
  EXPECT_TRUE(nx.has_flag("aa"));
  EXPECT_TRUE(nx.answer.empty());
  ASSERT_EQ(nx.authority.size(), 1u) << nx.text;
  EXPECT_NE(nx.authority[0].find(" IN SOA "), std::string::npos);

  auto refused = dig({"A", "www.example.com"});
  EXPECT_EQ(refused.status, "REFUSED") << refused.text;
  EXPECT_FALSE(refused.has_flag("aa"));
  auto parent = dig({"NS", "ntm.test"});
  EXPECT_EQ(parent.status, "REFUSED") << "the parent zone is not the DC's";
}

TEST_F(DnsTest, TcpAndIpv6AnswerTheSame) {
  start_dns_dc();
  auto laptop = register_node("laptop");
  for (const char* server : {"127.0.0.1", "::1"}) {
    for (bool tcp : {false, true}) {
      std::vector<std::string> args = {"A", fqdn("laptop")};
      if (tcp) args.push_back("+tcp");
      auto a = dig(args, server);
      EXPECT_EQ(a.status, "NOERROR") << server << (tcp ? " tcp" : " udp") << "\n" << a.text;
      EXPECT_EQ(a.answer, std::vector<std::string>{fqdn("laptop") + ". 20 IN A " + laptop["vip4"]})
          << server << (tcp ? " tcp" : " udp");
      EXPECT_NE(a.text.find(tcp ? "(TCP)" : "(UDP)"), std::string::npos) << a.text;
    }
  }
  auto ns = dig({"NS", domain_, "+tcp"}, "::1");
  EXPECT_EQ(ns.answer.size(), 1u) << ns.text;
  // SIGHUP logs the counters (servers/common/daemon.h) and the DC goes on answering.
  dc_->signal(SIGHUP);
  ASSERT_TRUE(wait_for_dc_log("SIGHUP: handshakes=", 10s)) << read_dc_log();
  EXPECT_NE(read_dc_log().find(" dns: udp=2 tcp=3 "), std::string::npos) << read_dc_log();
  ASSERT_FALSE(dc_->wait(0ms)) << "SIGHUP must not stop the DC";
  EXPECT_EQ(dig({"A", fqdn("laptop")}).answer.size(), 1u);
  auto counters = stop_and_read_dns_counters();
  EXPECT_EQ(number(counters, "udp"), 3) << counters;
  EXPECT_EQ(number(counters, "tcp"), 3) << counters;
  EXPECT_EQ(number(counters, "noerror"), 6) << counters;
}

TEST_F(DnsTest, ANodeThatLeavesLeavesTheZone) {
  start_dns_dc({"--registration-lifetime", "3"});
  auto gone = register_node("gone");
  ASSERT_EQ(dig({"A", fqdn("gone")}).status, "NOERROR");
  nodes_.clear();  // the node stops; its registration expires without keep-alives
  ASSERT_TRUE(wait_for_dc_log("registration " + fqdn("gone") + " expired", 20s)) << read_dc_log();
  auto nx = dig({"A", fqdn("gone")});
  EXPECT_EQ(nx.status, "NXDOMAIN") << nx.text;
}

TEST_F(DnsTest, HostileDatagramsAndConnectionsDoNotDisturbTheDc) {
  start_dns_dc({"--dns-max-tcp", "4", "--dns-tcp-idle", "2"});
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in dns{};
  dns.sin_family = AF_INET;
  dns.sin_port = htons(dns_port_);
  dns.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  int sent = 0;
  auto send = [&](const std::vector<uint8_t>& d) {
    if (sendto(s, d.data(), d.size(), 0, reinterpret_cast<sockaddr*>(&dns), sizeof dns) ==
        ssize_t(d.size()))
      ++sent;
    if (sent % 16 == 0) std::this_thread::sleep_for(1ms);
  };
  std::mt19937 rng(7);
  for (size_t len = 0; len < 40; ++len) {  // runts and short garbage
    std::vector<uint8_t> d(len);
    for (auto& b : d) b = uint8_t(rng());
    send(d);
  }
  for (int i = 0; i < 300; ++i) {  // noise up to a full datagram, half of it "queries"
    std::vector<uint8_t> d(rng() % 1400 + 12);
    for (auto& b : d) b = uint8_t(rng());
    if (i % 2) d[2] &= 0x7f;
    send(d);
  }
  // A header claiming 65535 records of each section, a compression pointer loop, a label
  // running past the end.
  send({0, 1, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff});
  send({0, 2, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1});
  send({0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 63, 'a', 'b'});
  close(s);

  // TCP: a zero length, a length with too few bytes behind it (held until idle), and
  // connections beyond the limit.
  auto tcp_connect = [&] {
    int c = socket(AF_INET, SOCK_STREAM, 0);
    EXPECT_EQ(connect(c, reinterpret_cast<sockaddr*>(&dns), sizeof dns), 0);
    return c;
  };
  auto closed_by_peer = [](int c) {  // waits (bounded) for EOF or reset
    pollfd p{c, POLLIN, 0};
    if (poll(&p, 1, 20000) != 1) return false;
    char b[64];
    return recv(c, b, sizeof b, 0) <= 0;
  };
  int zero = tcp_connect();
  ASSERT_EQ(write(zero, "\0\0", 2), 2);
  EXPECT_TRUE(closed_by_peer(zero)) << "a zero-length message closes the connection";
  close(zero);
  std::vector<int> slow;
  for (int i = 0; i < 4; ++i) {
    slow.push_back(tcp_connect());
    ASSERT_EQ(write(slow.back(), "\x01\x00\x12", 3), 3);  // 256 bytes announced, 1 sent
  }
  for (int c : slow) EXPECT_TRUE(closed_by_peer(c)) << "an idle connection is closed";
  for (int c : slow) close(c);

  // The DC still registers nodes and answers.
  auto n = register_node("survivor");
  auto a = dig({"A", fqdn("survivor")});
  EXPECT_EQ(a.status, "NOERROR") << a.text;
  ASSERT_EQ(a.answer.size(), 1u) << a.text;
  auto t = dig({"A", fqdn("survivor"), "+tcp"});
  EXPECT_EQ(t.answer, a.answer) << t.text;
  ASSERT_FALSE(dc_->wait(0ms)) << "ntm-dc died";
  long lost_in_kernel = kernel_udp_drops(dns_port_);
  ASSERT_GE(lost_in_kernel, 0);

  // Every datagram is accounted for: answered (FORMERR), or counted as not answerable.
  auto counters = stop_and_read_dns_counters();
  long long handled = number(counters, "noerror") + number(counters, "nxdomain") +
                      number(counters, "refused") + number(counters, "formerr") +
                      number(counters, "notimp") + number(counters, "badvers") +
                      number(counters, "drop_malformed");
  // dig asked one query over UDP and one over TCP.
  EXPECT_EQ(number(counters, "udp") + lost_in_kernel, sent + 1) << counters;
  EXPECT_EQ(handled + lost_in_kernel, sent + 2) << counters;
  EXPECT_GE(number(counters, "drop_malformed"), 12) << "the runts: " << counters;
  EXPECT_GE(number(counters, "formerr"), 1) << counters;
  EXPECT_EQ(number(counters, "tcp_bad_length"), 1) << counters;
  EXPECT_EQ(number(counters, "tcp_idle_closed"), 4) << counters;
}

TEST_F(DnsTest, BadDnsSettingsStopTheDcAtStart) {
  std::string state = dir_.path() + "/bad";
  for (std::vector<std::string> bad : {std::vector<std::string>{"--dns-address", "dc.example"},
                                       {"--dns-ns-name", "a..b"},
                                       {"--dns-max-tcp", "0"},
                                       {"--dns-port", "70000"}}) {
    std::vector<std::string> argv = {bin("ntm-dc"), "--state-dir", state, "--listen",
                                     "127.0.0.1:0"};
    if (bad[0] != "--dns-port") argv.insert(argv.end(), {"--dns-port", "5353"});
    argv.insert(argv.end(), bad.begin(), bad.end());
    Process p(argv, {}, dir_.path() + "/bad.err");
    EXPECT_EQ(p.wait(10s), 2) << bad[0] << " " << bad[1];
  }
}

TEST_F(DnsTest, TcpConnectionsBeyondTheLimitAreClosed) {
  start_dns_dc({"--dns-max-tcp", "2", "--dns-tcp-idle", "30"});
  sockaddr_in dns{};
  dns.sin_family = AF_INET;
  dns.sin_port = htons(dns_port_);
  dns.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::vector<int> held;
  for (int i = 0; i < 2; ++i) {
    held.push_back(socket(AF_INET, SOCK_STREAM, 0));
    ASSERT_EQ(connect(held.back(), reinterpret_cast<sockaddr*>(&dns), sizeof dns), 0);
  }
  // The DC has accepted both once a query on a third connection is refused: accepts are
  // handled in order on one acceptor.
  auto refused = dig({"A", fqdn("x"), "+tcp", "+tries=1"});
  EXPECT_NE(refused.exit_code, 0) << "the third connection is closed unanswered:\n" << refused.text;
  for (int c : held) close(c);
  // Slots are given back when clients go: a new query over TCP is answered (dig retries).
  DigAnswer ok;
  for (int i = 0; i < 20 && ok.status.empty(); ++i) ok = dig({"A", fqdn("x"), "+tcp"});
  EXPECT_EQ(ok.status, "NXDOMAIN") << ok.text;
  auto counters = stop_and_read_dns_counters();
  EXPECT_GE(number(counters, "tcp_refused"), 1) << counters;
}

}  // namespace
}  // namespace ntm::test
