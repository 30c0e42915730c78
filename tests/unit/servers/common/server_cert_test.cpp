// Server certificates (servers/common/server_cert.h, docs/protocol.md §15): the AS's Ed25519
// signature over a DC's zone and static key. A certificate is hostile input at every DC that
// receives one, so every byte of it must matter and no length may crash the parser.
#include "common/server_cert.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace ntm::server {
namespace {

namespace fs = std::filesystem;

constexpr uint64_t kNotBefore = 1700000000, kNotAfter = 1731536000;

std::array<uint8_t, 32> seq32(uint8_t first) {
  std::array<uint8_t, 32> a;
  for (size_t i = 0; i < a.size(); ++i) a[i] = uint8_t(first + i);
  return a;
}

ServerCert example_cert() {
  ServerCert c;
  c.name = "dc1.ntm.test";
  c.static_key = seq32(0x21);
  c.not_before = kNotBefore;
  c.not_after = kNotAfter;
  return c;
}

class ServerCertTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    as_key_ = sign_key_from_seed(seq32(0x01));
    trusted_ = {verify_key_of(as_key_)};
    cert_ = sign_cert(example_cert(), as_key_);
    ASSERT_EQ(cert_.size(), kCertFixedSize + 12);
  }
  SignKey as_key_;
  std::vector<VerifyKey> trusted_;
  proto::Bytes cert_;
};

TEST_F(ServerCertTest, RoundTripKeepsEveryField) {
  ServerCert out;
  ASSERT_EQ(verify_cert(cert_, trusted_, kNotBefore + 10, &out), CertError::kOk);
  EXPECT_EQ(out.role, CertRole::kDc);
  EXPECT_EQ(out.name, "dc1.ntm.test");
  EXPECT_EQ(out.static_key, seq32(0x21));
  EXPECT_EQ(out.not_before, kNotBefore);
  EXPECT_EQ(out.not_after, kNotAfter);
  EXPECT_EQ(out.signer, verify_key_of(as_key_));
  // The layout of docs/protocol.md §15, field by field.
  EXPECT_EQ(cert_[0], 0x01);
  EXPECT_EQ(cert_[1], 0x01);
  EXPECT_EQ(cert_[2], 12);
  EXPECT_EQ(std::string(cert_.begin() + 3, cert_.begin() + 15), "dc1.ntm.test");
  EXPECT_EQ(proto::get_u64(&cert_[3 + 12 + 32]), kNotBefore);
  EXPECT_EQ(proto::get_u64(&cert_[3 + 12 + 40]), kNotAfter);
  // The signature is Ed25519 over the 25-byte prefix and bytes 0 .. 83+L-1, checked here with
  // libsodium directly rather than through verify_cert.
  proto::Bytes m(kCertSignaturePrefix.begin(), kCertSignaturePrefix.end());
  ASSERT_EQ(m.size(), 25u);
  m.insert(m.end(), cert_.begin(), cert_.begin() + 83 + 12);
  EXPECT_EQ(crypto_sign_verify_detached(&cert_[83 + 12], m.data(), m.size(),
                                        verify_key_of(as_key_).data()),
            0);
}

TEST_F(ServerCertTest, SignerFieldComesFromTheKeyNotTheInput) {
  ServerCert c = example_cert();
  c.signer.fill(0xee);
  CertError err;
  auto parsed = parse_cert(sign_cert(c, as_key_), err);
  ASSERT_TRUE(parsed);
  EXPECT_EQ(parsed->signer, verify_key_of(as_key_));
}

TEST_F(ServerCertTest, EveryBitOfEveryByteIsCovered) {
  for (size_t i = 0; i < cert_.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      proto::Bytes b = cert_;
      b[i] ^= uint8_t(1 << bit);
      EXPECT_NE(verify_cert(b, trusted_, kNotBefore + 10, nullptr), CertError::kOk)
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST_F(ServerCertTest, ChangedFieldsAreCaughtForTheRightReason) {
  proto::Bytes b = cert_;
  b[3] = 'e';  // "ec1.ntm.test": still a valid name, the signature no longer matches
  EXPECT_EQ(verify_cert(b, trusted_, kNotBefore, nullptr), CertError::kBadSignature);
  b = cert_;
  b[3 + 12 + 32 + 7] ^= 1;  // not_before
  EXPECT_EQ(verify_cert(b, trusted_, kNotBefore, nullptr), CertError::kBadSignature);
  b = cert_;
  b[3 + 12 + 48] ^= 1;  // signer: now a key nobody trusts
  EXPECT_EQ(verify_cert(b, trusted_, kNotBefore, nullptr), CertError::kUnknownSigner);
  b = cert_;
  b.back() ^= 0x80;  // signature
  EXPECT_EQ(verify_cert(b, trusted_, kNotBefore, nullptr), CertError::kBadSignature);
}

TEST_F(ServerCertTest, WrongSignerIsRefused) {
  SignKey other = sign_key_from_seed(seq32(0x80));
  EXPECT_EQ(verify_cert(cert_, {verify_key_of(other)}, kNotBefore, nullptr),
            CertError::kUnknownSigner);
  EXPECT_EQ(verify_cert(cert_, {}, kNotBefore, nullptr), CertError::kUnknownSigner);
  // Trusted along with another key: accepted.
  EXPECT_EQ(verify_cert(cert_, {verify_key_of(other), verify_key_of(as_key_)}, kNotBefore, nullptr),
            CertError::kOk);
  // A certificate by the other key that claims to be by the trusted one.
  proto::Bytes forged = sign_cert(example_cert(), other);
  std::copy(trusted_[0].begin(), trusted_[0].end(), forged.begin() + 3 + 12 + 48);
  EXPECT_EQ(verify_cert(forged, trusted_, kNotBefore, nullptr), CertError::kBadSignature);
}

TEST_F(ServerCertTest, ValidityBoundsAreInclusive) {
  ServerCert out;
  EXPECT_EQ(verify_cert(cert_, trusted_, kNotBefore, &out), CertError::kOk);
  EXPECT_EQ(verify_cert(cert_, trusted_, kNotAfter, &out), CertError::kOk);
  EXPECT_EQ(verify_cert(cert_, trusted_, kNotBefore - 1, &out), CertError::kNotYetValid);
  EXPECT_EQ(verify_cert(cert_, trusted_, 0, &out), CertError::kNotYetValid);
  EXPECT_EQ(verify_cert(cert_, trusted_, kNotAfter + 1, &out), CertError::kExpired);
  EXPECT_EQ(verify_cert(cert_, trusted_, UINT64_MAX, &out), CertError::kExpired);
  EXPECT_STREQ(to_string(CertError::kExpired), "expired");
  EXPECT_STREQ(to_string(CertError::kNotYetValid), "not yet valid");
}

TEST_F(ServerCertTest, SignCertRefusesWhatItCouldNotEncode) {
  ServerCert c = example_cert();
  c.not_after = c.not_before;
  EXPECT_TRUE(sign_cert(c, as_key_).empty());
  for (const std::string& bad : std::vector<std::string>{
           "", "Dc1.ntm.test", "dc1.ntm.test.", "dc1..test", "-dc.test", "dc-.test", "dc_1.test",
           std::string(64, 'a') + ".test", std::string(254, 'a')}) {
    c = example_cert();
    c.name = bad;
    EXPECT_TRUE(sign_cert(c, as_key_).empty()) << bad;
  }
  c = example_cert();
  std::string longest;
  while (longest.size() < 253) longest += (longest.empty() ? "" : ".") + std::string(63, 'a');
  longest.resize(253);
  c.name = longest;
  ASSERT_TRUE(valid_cert_name(longest));
  proto::Bytes b = sign_cert(c, as_key_);
  ASSERT_EQ(b.size(), kCertFixedSize + 253);
  EXPECT_EQ(verify_cert(b, trusted_, kNotBefore, nullptr), CertError::kOk);
}

/// Builds a certificate with any header, name and validity, signed correctly, so that the
/// parser's own checks (not the signature) must refuse it.
proto::Bytes raw_cert(uint8_t version, uint8_t role, size_t declared_len, const std::string& name,
                      uint64_t nb, uint64_t na, const SignKey& key) {
  proto::Bytes out;
  proto::Writer w(out);
  w.u8(version), w.u8(role), w.u8(uint8_t(declared_len));
  w.raw(name.data(), name.size());
  auto k = seq32(0x21);
  w.raw(k.data(), k.size());
  w.u64(nb), w.u64(na);
  VerifyKey signer = verify_key_of(key);
  w.raw(signer.data(), signer.size());
  proto::Bytes m(kCertSignaturePrefix.begin(), kCertSignaturePrefix.end());
  m.insert(m.end(), out.begin(), out.end());
  uint8_t sig[64];
  crypto_sign_detached(sig, nullptr, m.data(), m.size(), key.data());
  w.raw(sig, 64);
  return out;
}

TEST_F(ServerCertTest, HeaderAndNameRulesAreEnforcedEvenWhenSigned) {
  CertError err;
  auto ok = raw_cert(1, 1, 12, "dc1.ntm.test", kNotBefore, kNotAfter, as_key_);
  EXPECT_EQ(ok, cert_);
  EXPECT_TRUE(parse_cert(ok, err));
  struct Case {
    const char* what;
    proto::Bytes b;
  };
  std::vector<Case> cases = {
      {"version 2", raw_cert(2, 1, 12, "dc1.ntm.test", kNotBefore, kNotAfter, as_key_)},
      {"version 0", raw_cert(0, 1, 12, "dc1.ntm.test", kNotBefore, kNotAfter, as_key_)},
      {"role 0", raw_cert(1, 0, 12, "dc1.ntm.test", kNotBefore, kNotAfter, as_key_)},
      {"role 2 (RS, reserved)", raw_cert(1, 2, 12, "dc1.ntm.test", kNotBefore, kNotAfter, as_key_)},
      {"role 3 (NS, reserved)", raw_cert(1, 3, 12, "dc1.ntm.test", kNotBefore, kNotAfter, as_key_)},
      {"L = 0", raw_cert(1, 1, 0, "", kNotBefore, kNotAfter, as_key_)},
      {"L = 254", raw_cert(1, 1, 254, std::string(254, 'a'), kNotBefore, kNotAfter, as_key_)},
      {"L = 255", raw_cert(1, 1, 255, std::string(255, 'a'), kNotBefore, kNotAfter, as_key_)},
      {"L larger than the name",
       raw_cert(1, 1, 13, "dc1.ntm.test", kNotBefore, kNotAfter, as_key_)},
      {"L smaller than the name",
       raw_cert(1, 1, 11, "dc1.ntm.test", kNotBefore, kNotAfter, as_key_)},
      {"upper case", raw_cert(1, 1, 12, "DC1.ntm.test", kNotBefore, kNotAfter, as_key_)},
      {"trailing dot", raw_cert(1, 1, 13, "dc1.ntm.test.", kNotBefore, kNotAfter, as_key_)},
      {"empty label", raw_cert(1, 1, 9, "dc1..test", kNotBefore, kNotAfter, as_key_)},
      {"NUL in name", raw_cert(1, 1, 5, std::string("dc\0.t", 5), kNotBefore, kNotAfter, as_key_)},
      {"not_after == not_before",
       raw_cert(1, 1, 12, "dc1.ntm.test", kNotBefore, kNotBefore, as_key_)},
      {"not_after < not_before",
       raw_cert(1, 1, 12, "dc1.ntm.test", kNotAfter, kNotBefore, as_key_)},
  };
  for (auto& c : cases) {
    EXPECT_FALSE(parse_cert(c.b, err)) << c.what;
    EXPECT_EQ(err, CertError::kMalformed) << c.what;
    EXPECT_EQ(verify_cert(c.b, trusted_, kNotBefore + 1, nullptr), CertError::kMalformed) << c.what;
  }
}

TEST_F(ServerCertTest, EveryLengthAndTruncationIsSafe) {
  // Truncations and extensions of a valid certificate.
  for (size_t n = 0; n < cert_.size(); ++n) {
    proto::Bytes b(cert_.begin(), cert_.begin() + n);
    EXPECT_EQ(verify_cert(b, trusted_, kNotBefore, nullptr), CertError::kMalformed) << n;
  }
  proto::Bytes longer = cert_;
  longer.push_back(0);
  EXPECT_EQ(verify_cert(longer, trusted_, kNotBefore, nullptr), CertError::kMalformed);
  // Buffers of every length 0 .. kCertMaxSize+1, with headers that claim every name length.
  for (size_t n = 0; n <= kCertMaxSize + 1; ++n) {
    for (uint8_t l : {uint8_t(0), uint8_t(1), uint8_t(12), uint8_t(253), uint8_t(255),
                      uint8_t(n >= kCertFixedSize ? n - kCertFixedSize : 0)}) {
      proto::Bytes b(n, 'a');
      if (n > 0) b[0] = 1;
      if (n > 1) b[1] = 1;
      if (n > 2) b[2] = l;
      CertError err = CertError::kOk;
      auto c = parse_cert(b, err);
      // An all-'a' name is valid and not_after (0x61...) == not_before: refused either way.
      EXPECT_FALSE(c) << n;
      EXPECT_EQ(err, CertError::kMalformed);
      EXPECT_EQ(verify_cert(b, trusted_, kNotBefore, nullptr), CertError::kMalformed) << n;
    }
  }
}

TEST_F(ServerCertTest, Base64FormsRoundTripAndRefuseGarbage) {
  std::string text = cert_to_base64(cert_);
  EXPECT_EQ(text.find_first_of(" \n"), std::string::npos);
  auto back = cert_from_base64("  \n" + text + "\r\n");
  ASSERT_TRUE(back);
  EXPECT_EQ(*back, cert_);
  EXPECT_FALSE(cert_from_base64(""));
  EXPECT_FALSE(cert_from_base64("not base64!"));
  EXPECT_FALSE(cert_from_base64(text + "x"));
  EXPECT_FALSE(cert_from_base64(cert_to_base64(proto::Bytes(kCertMaxSize + 1, 7))));
  EXPECT_TRUE(cert_from_base64(cert_to_base64(proto::Bytes(kCertMaxSize, 7))));

  VerifyKey v = verify_key_of(as_key_);
  std::string vt = verify_key_to_base64(v);
  EXPECT_EQ(vt.size(), 44u);
  EXPECT_EQ(verify_key_from_base64(" " + vt + "\n"), v);
  EXPECT_FALSE(verify_key_from_base64(vt.substr(1)));
  EXPECT_FALSE(verify_key_from_base64(vt.substr(0, 43) + "!"));
  EXPECT_FALSE(verify_key_from_base64(""));
}

class ServerCertFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    crypto::init();
    char tmpl[] = "/tmp/ntm-server-cert-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override { fs::remove_all(root_); }
  static std::string read(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  fs::path root_;
};

TEST_F(ServerCertFileTest, SignKeyIsCreated0600AndReReadIdentical) {
  std::string error;
  fs::path dir = root_ / "state";
  auto k1 = load_or_create_sign_key(dir, "as-sign.key", error);
  ASSERT_TRUE(k1) << error;
  struct stat st;
  ASSERT_EQ(stat((dir / "as-sign.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  ASSERT_EQ(stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0700u);
  // The file is the seed: 44 characters of base64 and a newline, and the key follows from it.
  std::string text = read(dir / "as-sign.key");
  ASSERT_EQ(text.size(), 45u);
  EXPECT_EQ(text.back(), '\n');
  auto seed = verify_key_from_base64(text);
  ASSERT_TRUE(seed);
  EXPECT_EQ(sign_key_from_seed(*seed), *k1);
  auto k2 = load_or_create_sign_key(dir, "as-sign.key", error);
  ASSERT_TRUE(k2) << error;
  EXPECT_EQ(*k1, *k2);
  EXPECT_EQ(read(dir / "as-sign.key"), text);
  // It signs certificates that verify with its public half.
  proto::Bytes c = sign_cert(example_cert(), *k2);
  EXPECT_EQ(verify_cert(c, {verify_key_of(*k1)}, kNotBefore, nullptr), CertError::kOk);
}

TEST_F(ServerCertFileTest, UnusableKeyFileIsAnErrorNotReplaced) {
  std::string error;
  fs::path p = root_ / "as-sign.key";
  { std::ofstream(p) << "garbage\n"; }
  chmod(p.c_str(), 0600);
  EXPECT_FALSE(load_or_create_sign_key(root_, "as-sign.key", error));
  EXPECT_NE(error.find("does not hold an Ed25519 signing key seed"), std::string::npos) << error;
  EXPECT_EQ(read(p), "garbage\n");
  auto good = load_or_create_sign_key(root_, "other.key", error);
  ASSERT_TRUE(good);
  chmod((root_ / "other.key").c_str(), 0644);
  EXPECT_FALSE(load_or_create_sign_key(root_, "other.key", error));
  EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;
  fs::create_symlink(root_ / "other.key", root_ / "link.key");
  EXPECT_FALSE(load_or_create_sign_key(root_, "link.key", error));
  EXPECT_NE(error.find("symbolic link"), std::string::npos) << error;
}

TEST_F(ServerCertFileTest, CertFileHoldsOneBase64Line) {
  SignKey k = sign_key_from_seed(seq32(0x01));
  proto::Bytes c = sign_cert(example_cert(), k);
  std::string error;
  fs::path p = root_ / "dc.cert";
  { std::ofstream(p) << cert_to_base64(c) << "\n"; }
  auto loaded = load_cert_file(p, error);
  ASSERT_TRUE(loaded) << error;
  EXPECT_EQ(*loaded, c);
  EXPECT_FALSE(load_cert_file(root_ / "missing", error));
  EXPECT_NE(error.find("cannot read"), std::string::npos);
  { std::ofstream(p) << "#!not a certificate\n"; }
  EXPECT_FALSE(load_cert_file(p, error));
  EXPECT_NE(error.find("base64 certificate"), std::string::npos);
  { std::ofstream(p) << std::string(5000, 'A'); }
  EXPECT_FALSE(load_cert_file(p, error));
  EXPECT_NE(error.find("larger than"), std::string::npos);
}

}  // namespace
}  // namespace ntm::server
