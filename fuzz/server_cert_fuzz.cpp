// Fuzz target: server certificates (servers/common/server_cert.h, docs/protocol.md §15), which
// a DC receives from other DCs: parse_cert, verify_cert against one trusted AS key (the seeds'
// key: Ed25519 seed 0x01..0x20), and the base64 form of dc-cert files.
//
// Invariants: parse_cert accepts exactly 147 + L bytes with L = 1..253, version 1, role DC, a
// valid name and not_after > not_before, and what it accepts re-encodes to the same signed
// bytes; verify_cert is kMalformed exactly when parse_cert fails, kOk only for the trusted
// signer, a signature libsodium accepts and a time inside the validity; with no trusted key
// nothing verifies; base64 text that decodes re-encodes to itself.
#include <sodium.h>

#include <cstdint>
#include <string>

#include "common/server_cert.h"
#include "fuzz_support.h"

using namespace ntm;
using server::CertError;

namespace {

const server::SignKey& as_key() {
  static const server::SignKey k = [] {
    std::array<uint8_t, 32> seed;
    for (size_t i = 0; i < seed.size(); ++i) seed[i] = uint8_t(1 + i);
    return server::sign_key_from_seed(seed);
  }();
  return k;
}

constexpr uint64_t kNow = 1700000000 + 86400;  // inside the seeds' validity

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  fuzz::deterministic_randomness();
  crypto::init();
  proto::ByteView b(data, size);
  const std::vector<server::VerifyKey> trusted = {server::verify_key_of(as_key())};

  CertError err = CertError::kOk;
  auto c = server::parse_cert(b, err);
  FUZZ_CHECK(bool(c) == (err == CertError::kOk));
  if (c) {
    FUZZ_CHECK(size == server::kCertFixedSize + c->name.size());
    FUZZ_CHECK(size >= server::kCertMinSize && size <= server::kCertMaxSize);
    FUZZ_CHECK(server::valid_cert_name(c->name) && data[2] == c->name.size());
    FUZZ_CHECK(c->not_after > c->not_before && c->role == server::CertRole::kDc);
    // Re-encoded with the seeds' key, the bytes up to the signer field are the input's.
    proto::Bytes again = server::sign_cert(*c, as_key());
    FUZZ_CHECK(again.size() == size);
    size_t head = 51 + c->name.size();
    FUZZ_CHECK(std::memcmp(again.data(), data, head) == 0);
  }

  for (uint64_t now :
       {kNow, uint64_t(0), UINT64_MAX, c ? c->not_before : kNow, c ? c->not_after : kNow}) {
    server::ServerCert out;
    CertError v = server::verify_cert(b, trusted, now, &out);
    FUZZ_CHECK((v == CertError::kMalformed) == !c);
    FUZZ_CHECK(server::verify_cert(b, {}, now, nullptr) != CertError::kOk);
    if (v == CertError::kOk) {
      FUZZ_CHECK(out.signer == trusted[0] && out.name == c->name);
      FUZZ_CHECK(out.not_before <= now && now <= out.not_after);
      // An independent check of the signature: prefix ‖ bytes 0 .. 83+L−1.
      size_t n = size - server::kCertSignatureSize;
      proto::Bytes m(server::kCertSignaturePrefix.begin(), server::kCertSignaturePrefix.end());
      m.insert(m.end(), data, data + n);
      FUZZ_CHECK(crypto_sign_verify_detached(data + n, m.data(), m.size(), trusted[0].data()) == 0);
    }
    if (v == CertError::kNotYetValid) FUZZ_CHECK(now < c->not_before);
    if (v == CertError::kExpired) FUZZ_CHECK(now > c->not_after);
    if (v == CertError::kUnknownSigner) FUZZ_CHECK(c->signer != trusted[0]);
  }

  std::string text(reinterpret_cast<const char*>(data), size);
  if (auto decoded = server::cert_from_base64(text)) {
    FUZZ_CHECK(decoded->size() <= server::kCertMaxSize);
    auto round = server::cert_from_base64(server::cert_to_base64(*decoded));
    FUZZ_CHECK(round && *round == *decoded);
  }
  return 0;
}
