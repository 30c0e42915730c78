// The primitives under every key NTM uses: ChaCha20-Poly1305 with the Noise nonce layout,
// Noise's HKDF, and X25519. Checked against the published vectors (RFC 5869, RFC 7748) and
// libsodium itself, so an interoperable peer derives the same bytes.
#include "crypto/aead.h"

#include <gtest/gtest.h>
#include <sodium.h>

#include <set>
#include <string>
#include <vector>

namespace ntm::crypto {
namespace {

std::vector<uint8_t> hex(const std::string& s) {
  std::vector<uint8_t> out(s.size() / 2);
  size_t len = 0;
  EXPECT_EQ(sodium_hex2bin(out.data(), out.size(), s.data(), s.size(), nullptr, &len, nullptr), 0);
  out.resize(len);
  return out;
}

Key key_from_hex(const std::string& s) {
  auto b = hex(s);
  Key k{};
  EXPECT_EQ(b.size(), k.size());
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

Key filled(uint8_t v) {
  Key k;
  k.fill(v);
  return k;
}

class AeadTest : public ::testing::Test {
 protected:
  void SetUp() override { init(); }
};

TEST_F(AeadTest, SealOpenRoundTrip) {
  Key k = filled(0x42);
  std::string text = "inner IP packet";
  ByteView plain(reinterpret_cast<const uint8_t*>(text.data()), text.size());
  uint8_t aad[4] = {1, 2, 3, 4};
  std::vector<uint8_t> sealed(plain.size() + proto::kTagSize);
  seal(k, 7, aad, plain, sealed.data());
  std::vector<uint8_t> out(plain.size());
  ASSERT_TRUE(open(k, 7, aad, sealed, out.data()));
  EXPECT_EQ(std::string(out.begin(), out.end()), text);

  EXPECT_FALSE(open(k, 8, aad, sealed, out.data()));  // another counter
  uint8_t other_aad[4] = {1, 2, 3, 5};
  EXPECT_FALSE(open(k, 7, other_aad, sealed, out.data()));
  EXPECT_FALSE(open(filled(0x43), 7, aad, sealed, out.data()));
}

TEST_F(AeadTest, NonceIsFourZeroBytesThenLittleEndianCounter) {
  // Noise rev. 34 §12.3: what an independent implementation will compute.
  Key k = filled(0x11);
  uint64_t counter = 0x0102030405060708;
  uint8_t plain[5] = {'h', 'e', 'l', 'l', 'o'}, aad[2] = {9, 9};
  uint8_t ours[5 + 16], theirs[5 + 16];
  seal(k, counter, aad, plain, ours);
  uint8_t nonce[12] = {0, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1};
  unsigned long long clen;
  crypto_aead_chacha20poly1305_ietf_encrypt(theirs, &clen, plain, sizeof plain, aad, sizeof aad,
                                            nullptr, nonce, k.data());
  EXPECT_EQ(std::vector<uint8_t>(ours, ours + 21), std::vector<uint8_t>(theirs, theirs + 21));
}

TEST_F(AeadTest, SealsInPlace) {
  Key k = filled(1);
  std::vector<uint8_t> buf = {10, 20, 30, 40, 50};
  std::vector<uint8_t> copy = buf;
  buf.resize(buf.size() + proto::kTagSize);
  seal(k, 0, {}, ByteView(buf.data(), 5), buf.data());
  std::vector<uint8_t> expected(5 + proto::kTagSize);
  seal(k, 0, {}, copy, expected.data());
  EXPECT_EQ(buf, expected);
}

TEST_F(AeadTest, EmptyPlaintextIsJustATag) {
  Key k = filled(2);
  uint8_t tag[16];
  seal(k, 0, {}, {}, tag);
  uint8_t none[1];
  EXPECT_TRUE(open(k, 0, {}, ByteView(tag, 16), none));
  tag[15] ^= 1;
  EXPECT_FALSE(open(k, 0, {}, ByteView(tag, 16), none));
}

TEST_F(AeadTest, OpenRefusesInputShorterThanATag) {
  Key k = filled(3);
  uint8_t buf[16] = {}, out[16];
  for (size_t n = 0; n < proto::kTagSize; ++n) EXPECT_FALSE(open(k, 0, {}, ByteView(buf, n), out));
}

TEST_F(AeadTest, Hkdf2MatchesRfc5869WithEmptyInfo) {
  // RFC 5869 test case 3 (salt = "", which HMAC pads to the same block as 32 zero bytes):
  // Noise's HKDF(ck, ikm) is HKDF-SHA256 with salt = ck, info = "", L = 64.
  Key ck{};
  std::vector<uint8_t> ikm(22, 0x0b);
  Key out1, out2;
  hkdf2(ck, ikm, out1, out2);
  auto okm =
      hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
          "9d201395faa4b61a96c8");
  EXPECT_TRUE(std::equal(out1.begin(), out1.end(), okm.begin()));
  EXPECT_TRUE(std::equal(okm.begin() + 32, okm.end(), out2.begin()));
}

TEST_F(AeadTest, Hkdf2OutputsMayAliasTheChainingKey) {
  // SymmetricState::mix_key calls hkdf2(ck_, ikm, ck_, k_).
  Key ck = filled(5), a, b;
  std::vector<uint8_t> ikm = {1, 2, 3};
  hkdf2(ck, ikm, a, b);
  Key ck2 = ck, k2;
  hkdf2(ck2, ikm, ck2, k2);
  EXPECT_EQ(ck2, a);
  EXPECT_EQ(k2, b);
}

TEST_F(AeadTest, X25519MatchesRfc7748) {
  // RFC 7748 §6.1.
  Key alice = key_from_hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  Key bob = key_from_hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
  EXPECT_EQ(public_key(alice),
            key_from_hex("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"));
  EXPECT_EQ(public_key(bob),
            key_from_hex("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"));
  Key s1, s2;
  ASSERT_TRUE(dh(alice, public_key(bob), s1));
  ASSERT_TRUE(dh(bob, public_key(alice), s2));
  EXPECT_EQ(s1, key_from_hex("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"));
  EXPECT_EQ(s1, s2);
}

TEST_F(AeadTest, DhRefusesLowOrderPoints) {
  Key priv = random_private_key(), shared;
  EXPECT_FALSE(dh(priv, Key{}, shared));  // u = 0
  Key one{};
  one[0] = 1;
  EXPECT_FALSE(dh(priv, one, shared));  // u = 1, order 4
  EXPECT_FALSE(dh(priv,
                  key_from_hex("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"),
                  shared));  // order 8
}

TEST_F(AeadTest, RandomKeysDiffer) {
  std::set<Key> seen;
  for (int i = 0; i < 64; ++i) EXPECT_TRUE(seen.insert(random_private_key()).second);
  std::set<uint32_t> words;
  for (int i = 0; i < 64; ++i) words.insert(random_u32());
  EXPECT_GT(words.size(), 60u);
}

}  // namespace
}  // namespace ntm::crypto
