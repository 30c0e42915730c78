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
  proto::Bytes bad_status{0x81, 0, 0, 0, 1, 6, 0};  // status beyond the last one
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
