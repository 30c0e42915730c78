// AdminMessage: the plaintext of every admin request and response (docs/protocol.md §14).
// Round trips, the documented bytes, and refusal of anything malformed.
#include "as/admin_message.h"

#include <gtest/gtest.h>

namespace ntm::as {
namespace {

TEST(AdminMessage, RequestBytesAreAsDocumented) {
  AdminMessage m;
  m.op = uint8_t(AdminOp::kAccountDel);
  m.id = 0x01020304;
  m.fields = {"bob"};
  EXPECT_EQ(m.encode(), (proto::Bytes{0x02, 1, 2, 3, 4, 1, 0, 3, 'b', 'o', 'b'}));
}

TEST(AdminMessage, ResponseBytesAreAsDocumented) {
  AdminMessage m;
  m.op = 0x82;
  m.id = 7;
  m.status = AdminStatus::kNotFound;
  EXPECT_EQ(m.encode(), (proto::Bytes{0x82, 0, 0, 0, 7, 4, 0}));
}

proto::Bytes from_hex(const std::string& hex) {
  proto::Bytes out;
  for (size_t i = 0; i + 1 < hex.size();) {
    if (hex[i] == ' ' || hex[i] == '\n') {
      ++i;
      continue;
    }
    out.push_back(uint8_t(std::stoi(hex.substr(i, 2), nullptr, 16)));
    i += 2;
  }
  return out;
}

// The node login example of docs/protocol.md §14, byte for byte.
TEST(AdminMessage, NodeLoginBytesAreAsDocumented) {
  AdminMessage m;
  m.op = uint8_t(AdminOp::kNodeLogin);
  m.id = 42;
  m.fields = {"alice", "alice-password",
              "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=", "192.0.2.7"};
  EXPECT_EQ(m.encode(), from_hex("10 00 00 00 2a 04 00 05 61 6c 69 63 65 00 0e 61\n"
                                 "6c 69 63 65 2d 70 61 73 73 77 6f 72 64 00 2c 41\n"
                                 "41 45 43 41 77 51 46 42 67 63 49 43 51 6f 4c 44\n"
                                 "41 30 4f 44 78 41 52 45 68 4d 55 46 52 59 58 47\n"
                                 "42 6b 61 47 78 77 64 48 68 38 3d 00 09 31 39 32\n"
                                 "2e 30 2e 32 2e 37"));
  AdminMessage ok;
  ok.op = 0x90;
  ok.id = 42;
  ok.fields = {"5", "1"};
  EXPECT_EQ(ok.encode(), from_hex("90 00 00 00 2a 00 02 00 01 35 00 01 31"));
  AdminMessage full;
  full.op = 0x90;
  full.id = 43;
  full.status = AdminStatus::kNodeLimit;
  EXPECT_EQ(full.encode(), from_hex("90 00 00 00 2b 08 00"));
}

TEST(AdminMessage, EveryStatusDecodes) {
  for (uint8_t st = 0; st <= 8; ++st) {
    proto::Bytes wire{0x90, 0, 0, 0, 1, st, 0};
    auto m = AdminMessage::decode(wire);
    ASSERT_TRUE(m) << int(st);
    EXPECT_EQ(uint8_t(m->status), st);
    EXPECT_STRNE(to_string(m->status), "unknown status");
  }
}

TEST(AdminMessage, RoundTrips) {
  AdminMessage m;
  m.op = 0x83;
  m.id = 0xfffffffe;
  m.status = AdminStatus::kOk;
  m.fields = {"", "alice", "5", "1796198163", std::string(300, 'x')};
  auto d = AdminMessage::decode(m.encode());
  ASSERT_TRUE(d);
  EXPECT_EQ(d->op, m.op);
  EXPECT_EQ(d->id, m.id);
  EXPECT_EQ(d->status, m.status);
  EXPECT_EQ(d->fields, m.fields);
  EXPECT_TRUE(d->is_response());
}

TEST(AdminMessage, RefusesMalformedInput) {
  AdminMessage m;
  m.op = 0x01;
  m.fields = {"alice", "password", "3"};
  proto::Bytes good = m.encode();
  ASSERT_TRUE(AdminMessage::decode(good));
  for (size_t n = 0; n < good.size(); ++n)  // every truncation
    EXPECT_FALSE(AdminMessage::decode(proto::ByteView(good.data(), n))) << n;
  auto trailing = good;
  trailing.push_back(0);
  EXPECT_FALSE(AdminMessage::decode(trailing));
  auto op0 = good;
  op0[0] = 0x80;  // op 0 as a response
  EXPECT_FALSE(AdminMessage::decode(op0));
  proto::Bytes bad_status{0x81, 0, 0, 0, 1, 9, 0};  // status beyond the last one
  EXPECT_FALSE(AdminMessage::decode(bad_status));
  proto::Bytes too_many{0x01, 0, 0, 0, 1, 65};  // more fields than allowed
  EXPECT_FALSE(AdminMessage::decode(too_many));
  EXPECT_FALSE(AdminMessage::decode(proto::Bytes(AdminMessage::kMaxSize + 1, 1)));
}

TEST(AdminMessage, EncodeRefusesWhatCannotBeDecoded) {
  AdminMessage m;
  m.op = 0x03;
  m.fields = {std::string(AdminMessage::kMaxSize, 'a')};
  EXPECT_TRUE(m.encode().empty());
  m.fields.assign(AdminMessage::kMaxFields + 1, "");
  EXPECT_TRUE(m.encode().empty());
}

}  // namespace
}  // namespace ntm::as
