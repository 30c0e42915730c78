// ControlMessage: the TLV wire format every node⇄DC and node⇄node control exchange uses
// (docs/protocol.md §4-5). What receivers rely on: a message survives encode → decode intact,
// every malformed buffer is refused with the drop reason it is counted under, and attributes
// a newer peer adds are carried through rather than refused.
#include "proto/control_message.h"

#include <gtest/gtest.h>

#include "printers.h"

#include <algorithm>
#include <optional>
#include <stdexcept>
#include <string>

namespace ntm::proto {
namespace {

std::optional<ControlMessage> decode(const Bytes& wire, DecodeError& err) {
  return ControlMessage::decode(ByteView(wire.data(), wire.size()), err);
}

DecodeError decode_error(const Bytes& wire) {
  DecodeError err = DecodeError::kNone;
  auto m = decode(wire, err);
  EXPECT_EQ(m.has_value(), err == DecodeError::kNone);
  return err;
}

/// A header-only message of `type`, then raw attribute bytes appended by the caller.
Bytes header(uint8_t type = uint8_t(MessageType::kKeepAlive), uint8_t version = kProtocolVersion) {
  return Bytes{version, type, 0x00, 0x00, 0x12, 0x34, 0x56, 0x78};
}

void append_attr(Bytes& b, uint16_t type, const Bytes& value) {
  Writer w(b);
  w.u16(type);
  w.u16(uint16_t(value.size()));
  w.raw(value.data(), value.size());
}

ControlMessage registration_request() {
  ControlMessage m(MessageType::kRegistrationRequest, 0xdeadbeef);
  m.flags = kFlagRetransmission;
  m.add_string(AttrType::kNodeName, "mn1")
      .add_endpoint(AttrType::kRealAddress, *Endpoint::parse("192.0.2.10:4500"))
      .add_endpoint(AttrType::kRealAddress, *Endpoint::parse("[2001:db8::10]:4500"))
      .add_u32(AttrType::kLifetime, 60)
      .add_u8(AttrType::kRole, uint8_t(Role::kResponder))
      .add_u16(AttrType::kErrorCode, uint16_t(ErrorCode::kNameTaken));
  Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(i * 7);
  m.add(AttrType::kPeerStaticKey, k);
  return m;
}

TEST(ControlMessageTest, EncodeDecodeRoundTripKeepsEveryField) {
  ControlMessage in = registration_request();
  Bytes wire = in.encode();

  DecodeError err = DecodeError::kTruncated;
  auto out = decode(wire, err);
  ASSERT_TRUE(out) << to_string(err);
  EXPECT_EQ(err, DecodeError::kNone);
  EXPECT_EQ(out->type, MessageType::kRegistrationRequest);
  EXPECT_EQ(out->flags, kFlagRetransmission);
  EXPECT_EQ(out->message_id, 0xdeadbeefu);
  ASSERT_EQ(out->attrs.size(), in.attrs.size());
  for (size_t i = 0; i < in.attrs.size(); ++i) {
    EXPECT_EQ(out->attrs[i].type, in.attrs[i].type) << "attribute " << i;
    EXPECT_EQ(out->attrs[i].value, in.attrs[i].value) << "attribute " << i;
  }
  EXPECT_EQ(out->get_string(AttrType::kNodeName), "mn1");
  EXPECT_EQ(out->get_u32(AttrType::kLifetime), 60u);
  EXPECT_EQ(out->get_u8(AttrType::kRole), uint8_t(Role::kResponder));
  EXPECT_EQ(out->get_u16(AttrType::kErrorCode), uint16_t(ErrorCode::kNameTaken));
  EXPECT_EQ(out->get_key(AttrType::kPeerStaticKey), in.get_key(AttrType::kPeerStaticKey));
  auto reals = out->get_endpoints(AttrType::kRealAddress);
  ASSERT_EQ(reals.size(), 2u);
  EXPECT_EQ(reals[0], *Endpoint::parse("192.0.2.10:4500"));
  EXPECT_EQ(reals[1], *Endpoint::parse("[2001:db8::10]:4500"));
  EXPECT_EQ(out->get_endpoint(AttrType::kRealAddress), reals[0]);  // the first one
  // Re-encoding a decoded message reproduces the exact bytes (responses are cached as bytes).
  EXPECT_EQ(out->encode(), wire);
}

TEST(ControlMessageTest, WireLayoutIsBigEndianHeaderThenTlv) {
  ControlMessage m(MessageType::kDirectionRequest, 0x01020304);
  m.flags = 0x0a0b;
  m.add_u32(AttrType::kDirectionId, 0xcafef00d);
  Bytes expected = {1,    0x03, 0x0a, 0x0b, 1,    2,    3,    4,
                    0x00, 0x08, 0x00, 0x04, 0xca, 0xfe, 0xf0, 0x0d};
  EXPECT_EQ(m.encode(), expected);
  Bytes prefix = {0xee};
  m.encode_to(prefix);  // appends, keeps what is there
  ASSERT_EQ(prefix.size(), 1 + expected.size());
  EXPECT_EQ(prefix[0], 0xee);
  EXPECT_TRUE(std::equal(expected.begin(), expected.end(), prefix.begin() + 1));
}

TEST(ControlMessageTest, HeaderOnlyMessageDecodesWithNoAttributes) {
  DecodeError err;
  auto m = decode(header(uint8_t(MessageType::kKeepAliveAck)), err);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->type, MessageType::kKeepAliveAck);
  EXPECT_EQ(m->message_id, 0x12345678u);
  EXPECT_TRUE(m->attrs.empty());
}

TEST(ControlMessageTest, EveryMessageTypeDecodes) {
  for (int t = int(MessageType::kRegistrationRequest); t <= int(MessageType::kError); ++t) {
    DecodeError err;
    auto m = decode(header(uint8_t(t)), err);
    ASSERT_TRUE(m) << "type " << t;
    EXPECT_EQ(int(m->type), t);
    EXPECT_STRNE(to_string(m->type), "unknown");
  }
}

TEST(ControlMessageTest, ShorterThanHeaderIsTruncated) {
  Bytes full = header();
  for (size_t n = 0; n < kControlHeaderSize; ++n) {
    Bytes cut(full.begin(), full.begin() + n);
    EXPECT_EQ(decode_error(cut), DecodeError::kTruncated) << n << " bytes";
  }
}

TEST(ControlMessageTest, PartialAttributeHeaderIsTruncated) {
  for (size_t extra = 1; extra < kAttrHeaderSize; ++extra) {
    Bytes b = header();
    b.insert(b.end(), extra, 0x00);
    EXPECT_EQ(decode_error(b), DecodeError::kTruncated) << extra << " trailing bytes";
  }
}

TEST(ControlMessageTest, AttributeRunningPastTheEndIsTruncated) {
  Bytes b = header();
  append_attr(b, uint16_t(AttrType::kNodeName), {'m', 'n', '1'});
  b.pop_back();  // the length says 3, only 2 bytes follow
  EXPECT_EQ(decode_error(b), DecodeError::kTruncated);

  Bytes huge = header();
  Writer w(huge);
  w.u16(uint16_t(AttrType::kErrorText));
  w.u16(0xffff);
  w.raw("abc", 3);
  EXPECT_EQ(decode_error(huge), DecodeError::kTruncated);
}

TEST(ControlMessageTest, WrongVersionIsRefused) {
  for (uint8_t v : {uint8_t(0), uint8_t(2), uint8_t(0xff)})
    EXPECT_EQ(decode_error(header(uint8_t(MessageType::kKeepAlive), v)), DecodeError::kBadVersion)
        << "version " << int(v);
}

TEST(ControlMessageTest, UnknownMessageTypeIsRefused) {
  for (uint8_t t : {uint8_t(0x00), uint8_t(0x12), uint8_t(0x40), uint8_t(0xff)})
    EXPECT_EQ(decode_error(header(t)), DecodeError::kUnknownType) << "type " << int(t);
}

TEST(ControlMessageTest, FixedSizeAttributeWithWrongLengthIsRefused) {
  struct Case {
    AttrType type;
    size_t length;
  };
  const Case cases[] = {
      {AttrType::kVip4, 4},        {AttrType::kPeerVip4, 4},     {AttrType::kLifetime, 4},
      {AttrType::kDirectionId, 4}, {AttrType::kTunnelId, 4},     {AttrType::kVip6, 16},
      {AttrType::kPeerVip6, 16},   {AttrType::kTemporalKey, 32}, {AttrType::kPeerStaticKey, 32},
      {AttrType::kPathToken, 8},   {AttrType::kHandshakeSeq, 4}, {AttrType::kRole, 1},
      {AttrType::kErrorCode, 2},
  };
  for (const Case& c : cases) {
    for (size_t len : {size_t(0), c.length - 1, c.length + 1}) {
      Bytes b = header();
      append_attr(b, uint16_t(c.type), Bytes(len, 0x01));
      EXPECT_EQ(decode_error(b), DecodeError::kBadAttrLength)
          << "attribute " << uint16_t(c.type) << " with " << len << " bytes";
    }
    Bytes ok = header();
    append_attr(ok, uint16_t(c.type), Bytes(c.length, 0x01));
    EXPECT_EQ(decode_error(ok), DecodeError::kNone) << "attribute " << uint16_t(c.type);
  }
}

TEST(ControlMessageTest, EndpointAttributeWithBadLengthIsRefused) {
  for (AttrType t : {AttrType::kRealAddress, AttrType::kNatAddress, AttrType::kPeerEndpoint}) {
    for (size_t len : {0, 6, 8, 18, 20}) {
      Bytes b = header();
      append_attr(b, uint16_t(t), Bytes(len, 0x04));
      EXPECT_EQ(decode_error(b), DecodeError::kBadAttrLength)
          << "attribute " << uint16_t(t) << " with " << len << " bytes";
    }
  }
}

TEST(ControlMessageTest, EndpointAttributeWithBadFamilyDecodesButYieldsNoEndpoint) {
  // The decoder checks only the length; the getters drop what is not an endpoint.
  Bytes b = header();
  append_attr(b, uint16_t(AttrType::kRealAddress), {9, 0x11, 0x94, 192, 0, 2, 1});
  append_attr(b, uint16_t(AttrType::kRealAddress), {4, 0x11, 0x94, 192, 0, 2, 1});
  DecodeError err;
  auto m = decode(b, err);
  ASSERT_TRUE(m) << to_string(err);
  EXPECT_FALSE(m->get_endpoint(AttrType::kRealAddress));  // the first one is not valid
  auto all = m->get_endpoints(AttrType::kRealAddress);
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].to_string(), "192.0.2.1:4500");
}

TEST(ControlMessageTest, AtMostMaxAttributes) {
  Bytes b = header();
  for (size_t i = 0; i < ControlMessage::kMaxAttributes; ++i)
    append_attr(b, uint16_t(AttrType::kRealAddress), {4, 0, 1, 10, 0, 0, uint8_t(i)});
  DecodeError err;
  auto m = decode(b, err);
  ASSERT_TRUE(m) << to_string(err);
  EXPECT_EQ(m->attrs.size(), ControlMessage::kMaxAttributes);

  append_attr(b, uint16_t(AttrType::kErrorText), {});  // number 65, even an empty one
  EXPECT_EQ(decode_error(b), DecodeError::kTooManyAttrs);
}

TEST(ControlMessageTest, UnknownAttributeTypesSurviveAndAreSkippedByGetters) {
  ControlMessage m(MessageType::kKeepAlive, 7);
  m.add(AttrType(0x7777), Bytes{1, 2, 3});
  m.add_u32(AttrType::kLifetime, 30);
  m.add(AttrType(0xffff), Bytes{});
  DecodeError err;
  auto out = decode(m.encode(), err);
  ASSERT_TRUE(out) << to_string(err);
  ASSERT_EQ(out->attrs.size(), 3u);
  EXPECT_EQ(uint16_t(out->attrs[0].type), 0x7777);
  EXPECT_EQ(out->attrs[0].value, (Bytes{1, 2, 3}));
  EXPECT_EQ(uint16_t(out->attrs[2].type), 0xffff);
  EXPECT_EQ(out->get_u32(AttrType::kLifetime), 30u);
  // Forwarded unchanged: a node re-encoding it does not lose the newer peer's attribute.
  EXPECT_EQ(out->encode(), m.encode());
}

TEST(ControlMessageTest, GettersRefuseWrongSizesAndAbsentAttributes) {
  ControlMessage m(MessageType::kKeepAlive, 1);
  m.add(AttrType::kNodeName, Bytes{1, 2, 3});
  EXPECT_FALSE(m.get_u8(AttrType::kNodeName));
  EXPECT_FALSE(m.get_u16(AttrType::kNodeName));
  EXPECT_FALSE(m.get_u32(AttrType::kNodeName));
  EXPECT_FALSE(m.get_key(AttrType::kNodeName));
  EXPECT_FALSE(m.get_endpoint(AttrType::kNodeName));
  EXPECT_FALSE((m.get_fixed<2>(AttrType::kNodeName)));
  EXPECT_TRUE((m.get_fixed<3>(AttrType::kNodeName)));
  EXPECT_FALSE(m.get_string(AttrType::kFqdn));
  EXPECT_EQ(m.find(AttrType::kFqdn), nullptr);
  EXPECT_TRUE(m.get_endpoints(AttrType::kPeerEndpoint).empty());
}

TEST(ControlMessageTest, StringAttributesMayHoldAnyBytes) {
  std::string s("a\0b\xff", 4);
  ControlMessage m(MessageType::kError, 1);
  m.add_string(AttrType::kErrorText, s);
  m.add_string(AttrType::kFqdn, "");
  DecodeError err;
  auto out = decode(m.encode(), err);
  ASSERT_TRUE(out);
  EXPECT_EQ(out->get_string(AttrType::kErrorText), s);
  EXPECT_EQ(out->get_string(AttrType::kFqdn), "");  // present but empty ≠ absent
}

TEST(ControlMessageTest, MakeErrorEchoesMessageIdAndCapsText) {
  ControlMessage req(MessageType::kDirectionRequest, 0xabcdef01);
  std::string long_text(500, 'x');
  ControlMessage e = make_error(req, ErrorCode::kUnknownFqdn, long_text);
  EXPECT_EQ(e.type, MessageType::kError);
  EXPECT_EQ(e.message_id, 0xabcdef01u);
  EXPECT_EQ(e.get_u16(AttrType::kErrorCode), uint16_t(ErrorCode::kUnknownFqdn));
  EXPECT_EQ(e.get_string(AttrType::kErrorText)->size(), 200u);  // docs/protocol.md: 0..200
  DecodeError err;
  EXPECT_TRUE(decode(e.encode(), err)) << to_string(err);
}

TEST(ControlMessageTest, MakeErrorCutsTextAtACharacterBoundary) {
  ControlMessage req(MessageType::kRegistrationRequest, 1);
  std::string text = std::string(199, 'x') + "\xc3\xa9" + "tail";  // 'é' straddles byte 200
  ControlMessage e = make_error(req, ErrorCode::kInvalidName, text);
  EXPECT_EQ(e.get_string(AttrType::kErrorText), std::string(199, 'x'));
  std::string exact(200, 'y');
  EXPECT_EQ(make_error(req, ErrorCode::kInternal, exact).get_string(AttrType::kErrorText), exact);
}

TEST(ControlMessageTest, LongestAttributeRoundTripsAndLongerIsRefused) {
  // The length field is 16 bits: 65535 bytes fit, one more must not be silently truncated.
  ControlMessage m(MessageType::kKeepAlive, 1);
  m.add(AttrType::kErrorText, Bytes(0xffff, 'a'));
  DecodeError err;
  auto out = decode(m.encode(), err);
  ASSERT_TRUE(out) << to_string(err);
  EXPECT_EQ(out->find(AttrType::kErrorText)->value.size(), 0xffffu);
  EXPECT_THROW(m.add(AttrType::kErrorText, Bytes(0x10000, 'a')), std::length_error);
  EXPECT_THROW(m.add_string(AttrType::kFqdn, std::string(0x10000, 'a')), std::length_error);
  EXPECT_EQ(m.attrs.size(), 1u);
}

TEST(ControlMessageTest, ResponsesAreTheTypesThatEchoARequest) {
  EXPECT_FALSE(is_response(MessageType::kRegistrationRequest));
  EXPECT_FALSE(is_response(MessageType::kDirectionRequest));
  EXPECT_FALSE(is_response(MessageType::kRouteDirection));
  EXPECT_FALSE(is_response(MessageType::kTunnelRequest));
  EXPECT_FALSE(is_response(MessageType::kKeepAlive));
  EXPECT_TRUE(is_response(MessageType::kRegistrationResponse));
  EXPECT_TRUE(is_response(MessageType::kDirectionResponse));
  EXPECT_TRUE(is_response(MessageType::kRouteDirectionAck));
  EXPECT_TRUE(is_response(MessageType::kTunnelResponse));
  EXPECT_TRUE(is_response(MessageType::kKeepAliveAck));
  EXPECT_TRUE(is_response(MessageType::kError));
}

TEST(ControlMessageTest, EveryDecodeErrorHasADistinctName) {
  const DecodeError all[] = {DecodeError::kNone,          DecodeError::kTruncated,
                             DecodeError::kBadVersion,    DecodeError::kUnknownType,
                             DecodeError::kBadAttrLength, DecodeError::kTooManyAttrs};
  for (DecodeError a : all) {
    for (DecodeError b : all) {
      if (a != b) {
        EXPECT_STRNE(to_string(a), to_string(b));
      }
    }
  }
}

}  // namespace
}  // namespace ntm::proto
