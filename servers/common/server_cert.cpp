#include "common/server_cert.h"

#include <fcntl.h>
#include <sodium.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "crypto/static_key.h"

namespace ntm::server {
namespace {

constexpr uint8_t kVersion = 1;
constexpr size_t kMaxName = 253;

/// Offset of the signature: 83 + L.
size_t signed_size(size_t name_len) {
  return kCertFixedSize - kCertSignatureSize + name_len;
}

/// Ed25519 over prefix ‖ the certificate's first signed_size bytes.
proto::Bytes signature_input(proto::ByteView signed_part) {
  proto::Bytes m(kCertSignaturePrefix.size() + signed_part.size());
  std::memcpy(m.data(), kCertSignaturePrefix.data(), kCertSignaturePrefix.size());
  if (!signed_part.empty())
    std::memcpy(m.data() + kCertSignaturePrefix.size(), signed_part.data(), signed_part.size());
  return m;
}

std::string trimmed(const std::string& text) {
  auto b = text.find_first_not_of(" \t\r\n");
  if (b == std::string::npos) return {};
  auto e = text.find_last_not_of(" \t\r\n");
  return text.substr(b, e - b + 1);
}

}  // namespace

const char* to_string(CertError e) {
  switch (e) {
    case CertError::kOk:
      return "ok";
    case CertError::kMalformed:
      return "malformed certificate";
    case CertError::kUnknownSigner:
      return "signed by an untrusted key";
    case CertError::kBadSignature:
      return "bad signature";
    case CertError::kNotYetValid:
      return "not yet valid";
    case CertError::kExpired:
      return "expired";
  }
  return "unknown certificate error";
}

bool valid_cert_name(const std::string& name) {
  if (name.empty() || name.size() > kMaxName) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = name.find('.', start);
    size_t end = dot == std::string::npos ? name.size() : dot;
    size_t len = end - start;
    if (len == 0 || len > 63 || name[start] == '-' || name[end - 1] == '-') return false;
    for (size_t i = start; i < end; ++i) {
      char c = name[i];
      if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
    }
    if (dot == std::string::npos) return true;
    start = dot + 1;
  }
}

proto::Bytes sign_cert(const ServerCert& c, const SignKey& key) {
  if (!valid_cert_name(c.name) || c.not_after <= c.not_before || c.role != CertRole::kDc) return {};
  crypto::init();
  proto::Bytes out;
  out.reserve(kCertFixedSize + c.name.size());
  proto::Writer w(out);
  w.u8(kVersion);
  w.u8(uint8_t(c.role));
  w.u8(uint8_t(c.name.size()));
  w.raw(c.name.data(), c.name.size());
  w.raw(c.static_key.data(), c.static_key.size());
  w.u64(c.not_before);
  w.u64(c.not_after);
  VerifyKey signer = verify_key_of(key);
  w.raw(signer.data(), signer.size());
  proto::Bytes m = signature_input(out);
  uint8_t sig[kCertSignatureSize];
  crypto_sign_detached(sig, nullptr, m.data(), m.size(), key.data());
  w.raw(sig, sizeof sig);
  return out;
}

std::optional<ServerCert> parse_cert(proto::ByteView b, CertError& err) {
  err = CertError::kMalformed;
  if (b.size() < kCertMinSize || b.size() > kCertMaxSize) return std::nullopt;
  proto::Reader r(b);
  uint8_t version = 0, role = 0, len = 0;
  r.get_u8(version), r.get_u8(role), r.get_u8(len);
  if (version != kVersion || role != uint8_t(CertRole::kDc) || len < 1 || len > kMaxName ||
      b.size() != kCertFixedSize + len)
    return std::nullopt;
  ServerCert c;
  c.role = CertRole::kDc;
  proto::ByteView name, key, signer;
  if (!r.get_view(len, name) || !r.get_view(32, key) || !r.get_u64(c.not_before) ||
      !r.get_u64(c.not_after) || !r.get_view(32, signer) || r.remaining() != kCertSignatureSize)
    return std::nullopt;
  c.name.assign(name.begin(), name.end());
  if (!valid_cert_name(c.name) || c.not_after <= c.not_before) return std::nullopt;
  std::memcpy(c.static_key.data(), key.data(), 32);
  std::memcpy(c.signer.data(), signer.data(), 32);
  err = CertError::kOk;
  return c;
}

CertError verify_cert(proto::ByteView b, const std::vector<VerifyKey>& trusted, uint64_t now_unix,
                      ServerCert* out) {
  CertError err;
  auto c = parse_cert(b, err);
  if (!c) return err;
  bool known = false;
  for (auto& k : trusted) known |= sodium_memcmp(k.data(), c->signer.data(), k.size()) == 0;
  if (!known) return CertError::kUnknownSigner;
  crypto::init();
  size_t n = signed_size(c->name.size());
  proto::Bytes m = signature_input(b.first(n));
  if (crypto_sign_verify_detached(b.data() + n, m.data(), m.size(), c->signer.data()) != 0)
    return CertError::kBadSignature;
  if (now_unix < c->not_before) return CertError::kNotYetValid;
  if (now_unix > c->not_after) return CertError::kExpired;
  if (out) *out = std::move(*c);
  return CertError::kOk;
}

SignKey sign_key_from_seed(const std::array<uint8_t, 32>& seed) {
  crypto::init();
  SignKey sk;
  uint8_t pk[crypto_sign_PUBLICKEYBYTES];
  crypto_sign_seed_keypair(pk, sk.data(), seed.data());
  return sk;
}

VerifyKey verify_key_of(const SignKey& key) {
  VerifyKey v;
  std::memcpy(v.data(), key.data() + 32, 32);  // libsodium's secret key is seed ‖ public
  return v;
}

std::optional<SignKey> load_or_create_sign_key(const std::string& dir, const std::string& name,
                                               std::string& error) {
  crypto::init();
  // The file holds the Ed25519 seed. An existing one that cannot be read is an error, never a
  // reason to make a new one: every certificate the AS signed names its public key.
  crypto::Key fresh;
  crypto::random_bytes(fresh.data(), fresh.size());
  auto seed = crypto::load_or_create_secret(dir, name, fresh, "an Ed25519 signing key seed", error);
  sodium_memzero(fresh.data(), fresh.size());
  if (!seed) return std::nullopt;
  SignKey k = sign_key_from_seed(*seed);
  sodium_memzero(seed->data(), seed->size());
  return k;
}

std::string verify_key_to_base64(const VerifyKey& k) {
  char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(out, sizeof out, k.data(), k.size(), sodium_base64_VARIANT_ORIGINAL);
  return out;
}

std::optional<VerifyKey> verify_key_from_base64(const std::string& text) {
  std::string t = trimmed(text);
  if (t.size() != 44) return std::nullopt;
  VerifyKey k;
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(k.data(), k.size(), t.data(), t.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != 32 || end != t.data() + t.size())
    return std::nullopt;
  return k;
}

std::string cert_to_base64(proto::ByteView cert) {
  std::string out(sodium_base64_ENCODED_LEN(cert.size(), sodium_base64_VARIANT_ORIGINAL), '\0');
  sodium_bin2base64(out.data(), out.size(), cert.data(), cert.size(),
                    sodium_base64_VARIANT_ORIGINAL);
  out.resize(std::strlen(out.c_str()));
  return out;
}

std::optional<proto::Bytes> cert_from_base64(const std::string& text) {
  std::string t = trimmed(text);
  if (t.empty() || t.size() > (kCertMaxSize + 2) / 3 * 4) return std::nullopt;
  proto::Bytes out(kCertMaxSize);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), t.data(), t.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != t.data() + t.size())
    return std::nullopt;
  out.resize(len);
  return out;
}

std::optional<proto::Bytes> load_cert_file(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  constexpr size_t kMaxFile = 4096;
  std::string text(kMaxFile + 1, '\0');
  size_t got = 0;
  for (;;) {
    ssize_t n = ::read(fd, text.data() + got, text.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      error = "cannot read " + path + ": " + std::strerror(errno);
      ::close(fd);
      return std::nullopt;
    }
    if (n == 0 || (got += size_t(n)) == text.size()) break;
  }
  ::close(fd);
  if (got > kMaxFile) {
    error = path + " is larger than 4 KiB: not a certificate";
    return std::nullopt;
  }
  text.resize(got);
  auto cert = cert_from_base64(text);
  if (!cert) error = path + " does not hold a base64 certificate (ntm-as --sign-dc prints one)";
  return cert;
}

}  // namespace ntm::server
