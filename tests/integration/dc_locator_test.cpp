// DC discovery through NS records (servers/dc/dc_locator.*) against a real nsd serving the
// parent zone ntm.test., as a DC asks it for the DC of another zone (paper 002 Fig. 3 step 3).
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <asio/io_context.hpp>
#include <chrono>

#include "dc/dc_locator.h"
#include "nsd_fixture.h"

namespace ntm::test {
namespace {

using dc::DcLocator;
using namespace std::chrono_literals;

const char* kParentRecords =
    "dc1 IN NS ns.dc1\n"
    "ns.dc1 IN A 127.0.0.1\n"
    "dc2 IN NS ns.dc2\n"
    "ns.dc2 IN AAAA ::1\n"
    "ns.dc2 IN A 127.0.0.2\n"
    // a delegation to a name server in a zone this server does not serve: no glue in the
    // referral, the locator asks for the name server's address (the second server has it)
    "dc3 IN NS dcns.other.test.\n"
    // a delegation to a name server nobody can resolve
    "dc4 IN NS ns.nowhere.invalid.\n";

class DcLocatorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (Nsd::binary().empty()) GTEST_SKIP() << "nsd is not installed (scripts/install-deps)";
    nsd_ = std::make_unique<Nsd>("ntm.test", kParentRecords);
    ASSERT_TRUE(nsd_->ready()) << "nsd did not answer:\n" << nsd_->log();
  }

  /// Runs one lookup to completion on a fresh loop turn (bounded: 10 s).
  DcLocator::Result locate(DcLocator& loc, const std::string& zone) {
    std::optional<DcLocator::Result> out;
    loc.locate(zone, [&](const DcLocator::Result& r) { out = r; });
    auto end = std::chrono::steady_clock::now() + 10s;
    while (!out && std::chrono::steady_clock::now() < end) {
      io_.restart();
      io_.run_for(50ms);
    }
    EXPECT_TRUE(out) << "no answer for " << zone;
    return out.value_or(DcLocator::Result{});
  }

  std::vector<proto::Endpoint> resolver() { return {*proto::Endpoint::parse(nsd_->endpoint())}; }

  asio::io_context io_;
  std::unique_ptr<Nsd> nsd_;
};

TEST_F(DcLocatorTest, ReferralWithGlueGivesTheDcAddressesIpv4First) {
  DcLocator loc(io_, resolver());
  ASSERT_TRUE(loc.ok()) << loc.error();
  auto r = locate(loc, "dc2.ntm.test");
  ASSERT_EQ(r.status, DcLocator::Status::kFound) << r.detail;
  ASSERT_EQ(r.addresses.size(), 2u);
  EXPECT_EQ(r.addresses[0].to_string(), "127.0.0.2");
  EXPECT_EQ(r.addresses[1].to_string(), "::1");
  auto r1 = locate(loc, "dc1.ntm.test");
  ASSERT_EQ(r1.status, DcLocator::Status::kFound) << r1.detail;
  ASSERT_EQ(r1.addresses.size(), 1u);
  EXPECT_EQ(r1.addresses[0].to_string(), "127.0.0.1");
}

TEST_F(DcLocatorTest, NameServerWithoutGlueIsResolved) {
  // Two servers: the parent answers the NS query (a referral without glue) and refuses the
  // A query for dcns.other.test, which c-ares then asks the second server, other.test's.
  Nsd other("other.test", "dcns IN A 127.0.0.3\n");
  ASSERT_TRUE(other.ready()) << other.log();
  auto servers = resolver();
  servers.push_back(*proto::Endpoint::parse(other.endpoint()));
  DcLocator loc(io_, servers);
  auto r = locate(loc, "dc3.ntm.test");
  ASSERT_EQ(r.status, DcLocator::Status::kFound) << r.detail;
  ASSERT_EQ(r.addresses.size(), 1u);
  EXPECT_EQ(r.addresses[0].to_string(), "127.0.0.3");
}

TEST_F(DcLocatorTest, UnknownZoneIsNoSuchZoneAndCached) {
  DcLocator loc(io_, resolver());
  auto r = locate(loc, "nobody.ntm.test");
  EXPECT_EQ(r.status, DcLocator::Status::kNoSuchZone) << r.detail;
  uint64_t queries = loc.stats().queries;
  auto again = locate(loc, "nobody.ntm.test");
  EXPECT_EQ(again.status, DcLocator::Status::kNoSuchZone);
  EXPECT_EQ(loc.stats().queries, queries) << "the negative answer was not cached";
  EXPECT_EQ(loc.stats().cache_hits, 1u);
}

TEST_F(DcLocatorTest, FoundAnswersAreCachedAndConcurrentLookupsShareOneQuery) {
  DcLocator loc(io_, resolver());
  int answered = 0;
  for (int i = 0; i < 5; ++i)
    loc.locate("dc2.ntm.test", [&](const DcLocator::Result& r) {
      EXPECT_EQ(r.status, DcLocator::Status::kFound);
      ++answered;
    });
  auto end = std::chrono::steady_clock::now() + 10s;
  while (answered < 5 && std::chrono::steady_clock::now() < end) {
    io_.restart();
    io_.run_for(50ms);
  }
  EXPECT_EQ(answered, 5);
  EXPECT_EQ(loc.stats().queries, 1u);
  auto r = locate(loc, "dc2.ntm.test");
  EXPECT_EQ(r.status, DcLocator::Status::kFound);
  EXPECT_EQ(loc.stats().queries, 1u);
}

TEST_F(DcLocatorTest, UnresolvableNameServerFails) {
  DcLocator loc(io_, resolver());
  auto r = locate(loc, "dc4.ntm.test");
  EXPECT_EQ(r.status, DcLocator::Status::kFailed);
  EXPECT_FALSE(r.detail.empty());
}

TEST(DcLocator, SilentResolverFailsWithinItsRetryBudget) {
  // A bound socket that never answers: 2 tries of 200 ms, then a clean failure.
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  asio::io_context io;
  DcLocator loc(io, {*proto::Endpoint::parse("127.0.0.1:" + std::to_string(ntohs(a.sin_port)))},
                200ms, 2);
  std::optional<DcLocator::Result> out;
  loc.locate("dc2.ntm.test", [&](const DcLocator::Result& r) { out = r; });
  auto end = std::chrono::steady_clock::now() + 20s;
  while (!out && std::chrono::steady_clock::now() < end) {
    io.restart();
    io.run_for(50ms);
  }
  close(s);
  ASSERT_TRUE(out) << "the lookup never ended";
  EXPECT_EQ(out->status, DcLocator::Status::kFailed);
  EXPECT_EQ(loc.stats().failed, 1u);
}

TEST(DcLocator, ZoneOfAFqdnDropsTheFirstLabel) {
  EXPECT_EQ(DcLocator::zone_of("cn.dc2.ntm.test"), "dc2.ntm.test");
  EXPECT_EQ(DcLocator::zone_of("CN.DC2.ntm.test."), "dc2.ntm.test");
  EXPECT_EQ(DcLocator::zone_of("single"), "");
}

TEST(DcLocator, ParserRefusesGarbageAndForeignOwners) {
  std::vector<std::string> servers;
  std::vector<asio::ip::address> glue;
  uint32_t ttl = 0;
  std::string detail;
  // A response header that announces a question and five answers, and nothing after it.
  uint8_t junk[12] = {0x12, 0x34, 0x81, 0x80, 0, 1, 0, 5, 0, 0, 0, 0};
  EXPECT_EQ(DcLocator::parse_ns_answer(proto::ByteView(junk, sizeof junk), "dc2.ntm.test", servers,
                                       glue, ttl, detail),
            DcLocator::Status::kFailed);
  EXPECT_EQ(detail, "malformed answer");
  // An answer whose NS record belongs to another zone (a resolver handing out a record for
  // the parent) names no server of the zone asked about.
  ldns_pkt* p = ldns_pkt_new();
  ldns_pkt_set_qr(p, true);
  ldns_rr* rr = nullptr;
  ASSERT_EQ(ldns_rr_new_frm_str(&rr, "ntm.test. 300 IN NS evil.example.", 0, nullptr, nullptr),
            LDNS_STATUS_OK);
  ldns_pkt_push_rr(p, LDNS_SECTION_AUTHORITY, rr);
  uint8_t* wire = nullptr;
  size_t len = 0;
  ASSERT_EQ(ldns_pkt2wire(&wire, p, &len), LDNS_STATUS_OK);
  ldns_pkt_free(p);
  servers.clear();
  EXPECT_EQ(DcLocator::parse_ns_answer(proto::ByteView(wire, len), "dc2.ntm.test", servers, glue,
                                       ttl, detail),
            DcLocator::Status::kNoSuchZone);
  EXPECT_TRUE(servers.empty());
  free(wire);
}

}  // namespace
}  // namespace ntm::test
