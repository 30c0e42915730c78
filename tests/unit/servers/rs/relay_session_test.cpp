// The RS session table (docs/protocol.md §12.3, §12.4): which binds create or move a session's
// side, which are refused and why, and when sessions and held data are forgotten. Tickets and
// binds are made with the real encoders, as the DC and the nodes make them.
#include "rs/relay_session.h"

#include <gtest/gtest.h>

#include "printers.h"
#include "relay_grant.h"

namespace ntm::rs {
namespace {

using namespace std::chrono_literals;
using test::Grant;
using test::random_key;
using test::unix_now;
using Result = SessionTable::BindResult;

class SessionTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    key_ = random_key();
  }
  SessionTable table(size_t max_sessions = 100, std::vector<crypto::Key> keys = {}) {
    if (keys.empty()) keys = {key_};
    return SessionTable(std::move(keys), max_sessions, 1000, 1e6);
  }
  /// Parses `raw` as the RS does and offers it to `t` from `from`.
  Result bind(SessionTable& t, const proto::Bytes& raw, const proto::Endpoint& from,
              Session** out = nullptr, uint32_t now_unix = unix_now()) {
    proto::RelayBind b;
    EXPECT_TRUE(proto::parse_relay_bind(raw, b));
    Session* s = nullptr;
    auto r = t.bind(b, raw, from, 0, now_unix, now_, &s);
    if (out) *out = s;
    return r;
  }
  static proto::Endpoint ep(const char* text) { return *proto::Endpoint::parse(text); }

  crypto::Key key_;
  Clock::time_point now_ = Clock::now();
};

TEST_F(SessionTableTest, FirstBindCreatesTheSessionAndBindsThatSideOnly) {
  auto t = table();
  Grant g(key_, 0x1234);
  Session* s = nullptr;
  ASSERT_EQ(bind(t, g.bind(1, 1), ep("192.0.2.1:4000"), &s), Result::kAccepted);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_EQ(t.find(0x1234), s);
  EXPECT_EQ(s->id, 0x1234u);
  EXPECT_TRUE(s->side[0].bound);
  EXPECT_FALSE(s->side[1].bound);
  EXPECT_EQ(s->side[0].endpoint, ep("192.0.2.1:4000"));
  EXPECT_EQ(s->side[0].key, g.side_key[0]);
  EXPECT_EQ(SessionTable::side_of(*s, ep("192.0.2.1:4000")), 0);
  EXPECT_EQ(SessionTable::side_of(*s, ep("192.0.2.1:4001")), -1);

  ASSERT_EQ(bind(t, g.bind(2, 1), ep("198.51.100.7:5000"), &s), Result::kAccepted);
  EXPECT_EQ(t.size(), 1u) << "the second side joins the same session";
  EXPECT_EQ(SessionTable::side_of(*s, ep("198.51.100.7:5000")), 1);
  EXPECT_EQ(t.find(0x9999), nullptr);
}

TEST_F(SessionTableTest, TicketUnderAKeyTheRsDoesNotHoldIsRefused) {
  auto t = table();
  Grant foreign(random_key(), 0x1234);
  EXPECT_EQ(bind(t, foreign.bind(1, 1), ep("192.0.2.1:4000")), Result::kBadTicket);
  EXPECT_EQ(t.size(), 0u);
  EXPECT_EQ(t.find(0x1234), nullptr);
}

TEST_F(SessionTableTest, TicketWithAlteredBytesIsRefused) {
  auto t = table();
  Grant g(key_, 0x1234);
  // The node swaps in another identity (or a later expiry) and re-MACs the bind with its side
  // key: the ticket's own MAC no longer verifies.
  for (size_t at : {size_t(0), size_t(5), size_t(8), size_t(40), size_t(80)}) {
    Grant forged = g;
    forged.ticket[at] ^= 0x01;
    EXPECT_EQ(bind(t, forged.bind(1, 1), ep("192.0.2.1:4000")), Result::kBadTicket) << at;
  }
  EXPECT_EQ(t.size(), 0u);
}

TEST_F(SessionTableTest, ExpiredTicketIsRefused) {
  auto t = table();
  uint32_t now = unix_now();
  Grant past(key_, 0x1234, now - 1), ending(key_, 0x1235, now);
  EXPECT_EQ(bind(t, past.bind(1, 1), ep("192.0.2.1:4000")), Result::kExpired);
  EXPECT_EQ(bind(t, ending.bind(1, 1), ep("192.0.2.1:4000"), nullptr, now), Result::kExpired)
      << "expiry is the first second the ticket is no longer valid";
  EXPECT_EQ(t.size(), 0u);
  // ... also for a session that exists: a refresh after expiry binds nothing.
  Grant soon(key_, 0x1236, now + 10);
  ASSERT_EQ(bind(t, soon.bind(1, 1), ep("192.0.2.1:4000")), Result::kAccepted);
  EXPECT_EQ(bind(t, soon.bind(1, 2), ep("192.0.2.1:4999"), nullptr, now + 10), Result::kExpired);
  EXPECT_EQ(t.find(0x1236)->side[0].endpoint, ep("192.0.2.1:4000"));
}

TEST_F(SessionTableTest, BindWithAWrongMacIsRefused) {
  auto t = table();
  Grant g(key_, 0x1234);
  auto b = g.bind(1, 1);
  b.back() ^= 0x80;
  EXPECT_EQ(bind(t, b, ep("192.0.2.1:4000")), Result::kBadMac);
  // A node holding side 2's key cannot bind side 1.
  auto other = crypto::make_relay_bind(1, 1, g.ticket, g.side_key[1]);
  EXPECT_EQ(bind(t, other, ep("192.0.2.1:4000")), Result::kBadMac);
  EXPECT_EQ(t.size(), 0u);
  // Nor, once the session exists, move side 1 with a bind it did not MAC.
  ASSERT_EQ(bind(t, g.bind(1, 1), ep("192.0.2.1:4000")), Result::kAccepted);
  auto moved = crypto::make_relay_bind(1, 2, g.ticket, g.side_key[1]);
  EXPECT_EQ(bind(t, moved, ep("203.0.113.9:9")), Result::kBadMac);
  EXPECT_EQ(t.find(0x1234)->side[0].endpoint, ep("192.0.2.1:4000"));
  EXPECT_EQ(t.find(0x1234)->side[0].counter, 1u);
}

TEST_F(SessionTableTest, ReplayedBindIsStaleAndMovesNothing) {
  auto t = table();
  Grant g(key_, 0x1234);
  auto b5 = g.bind(1, 5);
  ASSERT_EQ(bind(t, b5, ep("192.0.2.1:4000")), Result::kAccepted);
  // An on-path attacker replays the captured bind from its own address, or an older one.
  EXPECT_EQ(bind(t, b5, ep("203.0.113.9:9")), Result::kStale);
  EXPECT_EQ(bind(t, g.bind(1, 4), ep("203.0.113.9:9")), Result::kStale);
  Session* s = t.find(0x1234);
  EXPECT_EQ(s->side[0].endpoint, ep("192.0.2.1:4000"));
  EXPECT_EQ(s->side[0].counter, 5u);
}

TEST_F(SessionTableTest, NewerBindFromANewAddressMovesTheSide) {
  auto t = table();
  Grant g(key_, 0x1234);
  ASSERT_EQ(bind(t, g.bind(1, 1), ep("192.0.2.1:4000")), Result::kAccepted);
  ASSERT_EQ(bind(t, g.bind(2, 1), ep("198.51.100.7:5000")), Result::kAccepted);
  // Side 1's NAT gave it a new mapping: its next refresh comes from there.
  Session* s = nullptr;
  ASSERT_EQ(bind(t, g.bind(1, 2), ep("192.0.2.1:4321"), &s), Result::kAccepted);
  EXPECT_EQ(s->side[0].endpoint, ep("192.0.2.1:4321"));
  EXPECT_EQ(SessionTable::side_of(*s, ep("192.0.2.1:4000")), -1);
  EXPECT_EQ(SessionTable::side_of(*s, ep("192.0.2.1:4321")), 0);
  EXPECT_EQ(s->side[1].endpoint, ep("198.51.100.7:5000")) << "the other side stays";
}

TEST_F(SessionTableTest, AnotherTicketWithTheSameSessionIdConflicts) {
  auto t = table();
  Grant first(key_, 0x1234), second(key_, 0x1234);
  ASSERT_EQ(bind(t, first.bind(1, 1), ep("192.0.2.1:4000")), Result::kAccepted);
  EXPECT_EQ(bind(t, second.bind(1, 9), ep("203.0.113.9:9")), Result::kConflict);
  EXPECT_EQ(bind(t, second.bind(2, 9), ep("203.0.113.9:9")), Result::kConflict);
  Session* s = t.find(0x1234);
  EXPECT_EQ(s->side[0].endpoint, ep("192.0.2.1:4000"));
  EXPECT_FALSE(s->side[1].bound);
  EXPECT_TRUE(std::equal(first.ticket.begin(), first.ticket.end(), s->ticket.begin()));
}

TEST_F(SessionTableTest, TableFullRefusesNewSessionsButNotTheExistingOnes) {
  auto t = table(2);
  Grant a(key_, 1), b(key_, 2), c(key_, 3);
  ASSERT_EQ(bind(t, a.bind(1, 1), ep("192.0.2.1:1")), Result::kAccepted);
  ASSERT_EQ(bind(t, b.bind(1, 1), ep("192.0.2.1:2")), Result::kAccepted);
  EXPECT_EQ(bind(t, c.bind(1, 1), ep("192.0.2.1:3")), Result::kFull);
  EXPECT_EQ(t.size(), 2u);
  EXPECT_EQ(t.find(3), nullptr);
  EXPECT_EQ(bind(t, a.bind(2, 1), ep("192.0.2.2:1")), Result::kAccepted);
  EXPECT_EQ(bind(t, b.bind(1, 2), ep("192.0.2.1:22")), Result::kAccepted);
}

TEST_F(SessionTableTest, EveryRelayKeyIsAccepted) {
  // Key rotation: the RS holds the old and the new key while DCs move over.
  crypto::Key old_key = key_, new_key = random_key();
  auto t = table(100, {old_key, new_key});
  Grant by_old(old_key, 1), by_new(new_key, 2);
  Session* s = nullptr;
  ASSERT_EQ(bind(t, by_old.bind(1, 1), ep("192.0.2.1:1"), &s), Result::kAccepted);
  EXPECT_EQ(s->key_index, 0u);
  ASSERT_EQ(bind(t, by_new.bind(2, 1), ep("192.0.2.1:2"), &s), Result::kAccepted);
  EXPECT_EQ(s->key_index, 1u);
  EXPECT_EQ(s->side[1].key, by_new.side_key[1]);
  EXPECT_EQ(t.keys().size(), 2u);
  // A ticket under neither is still refused.
  EXPECT_EQ(bind(t, Grant(random_key(), 3).bind(1, 1), ep("192.0.2.1:3")), Result::kBadTicket);
}

TEST_F(SessionTableTest, ExpiryForgetsIdleAndExpiredSessionsAndOldHeldData) {
  auto t = table();
  uint32_t now = unix_now();
  Grant idle(key_, 1), expiring(key_, 2, now + 5), busy(key_, 3);
  ASSERT_EQ(bind(t, idle.bind(1, 1), ep("192.0.2.1:1")), Result::kAccepted);
  ASSERT_EQ(bind(t, expiring.bind(1, 1), ep("192.0.2.1:2")), Result::kAccepted);
  Session* s = nullptr;
  ASSERT_EQ(bind(t, busy.bind(1, 1), ep("192.0.2.1:3"), &s), Result::kAccepted);
  s->held.push_back({proto::Bytes(20, 7), now_});
  s->held.push_back({proto::Bytes(20, 8), now_ + 2s});

  // Nothing goes while the tickets are valid and nothing has been idle for long.
  EXPECT_EQ(t.expire(now, now_ + 1s, 120s), 0u);
  EXPECT_EQ(t.size(), 3u);
  EXPECT_EQ(t.find(3)->held.size(), 2u);

  // 3 s later: the first held datagram is older than kHoldFor; the ticket of session 2 ended.
  t.find(3)->last_active = now_ + 3s;
  EXPECT_EQ(t.expire(now + 5, now_ + 3s, 120s), 1u);
  EXPECT_EQ(t.find(2), nullptr);
  ASSERT_NE(t.find(3), nullptr);
  ASSERT_EQ(t.find(3)->held.size(), 1u);
  EXPECT_EQ(t.find(3)->held[0].bytes[0], 8);

  // Session 1 saw nothing for longer than `idle`; session 3 was active since.
  EXPECT_EQ(t.expire(now + 5, now_ + 121s, 120s), 1u);
  EXPECT_EQ(t.find(1), nullptr);
  EXPECT_NE(t.find(3), nullptr);
  EXPECT_TRUE(t.find(3)->held.empty());
  // A forgotten session's ID can be bound again (with its ticket, which is still valid).
  EXPECT_EQ(bind(t, idle.bind(1, 2), ep("192.0.2.1:1")), Result::kAccepted);
}

TEST(QuotaTest, BurstThenRate) {
  auto t0 = Clock::now();
  Quota q(100, 10);  // 100 per second, burst 10
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(q.take(1, t0)) << i;
  EXPECT_FALSE(q.take(1, t0));
  EXPECT_FALSE(q.take(1, t0 + 5ms)) << "half a token";
  EXPECT_TRUE(q.take(1, t0 + 10ms));
  EXPECT_FALSE(q.take(1, t0 + 10ms));
  // Refill is capped at the burst.
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(q.take(1, t0 + 10s)) << i;
  EXPECT_FALSE(q.take(1, t0 + 10s));
  EXPECT_FALSE(q.take(11, t0 + 20s)) << "a cost above the burst never passes";
  EXPECT_TRUE(q.take(10, t0 + 20s));
}

}  // namespace
}  // namespace ntm::rs
