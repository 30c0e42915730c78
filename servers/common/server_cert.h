// Server certificates: the Account Server (AS), the trust anchor of servers, signs a DC's
// static X25519 public key with its Ed25519 key so that other DCs can check whom they talk to
// (issue 11, paper 002 Fig. 3 step 4: "signed" key distribution). docs/protocol.md §15.
//
// Wire format v1, 147 + L bytes, integers big-endian:
//   0     1   version 0x01
//   1     1   role: 0x01 = DC (other values reserved for RS/NS; refused for now)
//   2     1   L = name length, 1..253
//   3     L   name: the DC's zone, lower case ASCII, no trailing dot, a valid DNS name
//   3+L   32  the server's static X25519 public key
//   35+L  8   not_before, u64 Unix seconds
//   43+L  8   not_after, u64 Unix seconds (> not_before)
//   51+L  32  signer: the AS's Ed25519 public key
//   83+L  64  Ed25519 signature (RFC 8032, libsodium crypto_sign_detached) over
//             "NTM server certificate v1" (25 ASCII bytes, no NUL) ‖ bytes 0 .. 83+L−1
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/aead.h"
#include "proto/bytes.h"

namespace ntm::server {

using SignKey = std::array<uint8_t, 64>;    ///< libsodium Ed25519 secret key (seed ‖ public)
using VerifyKey = std::array<uint8_t, 32>;  ///< Ed25519 public key

enum class CertRole : uint8_t { kDc = 1 };

struct ServerCert {
  CertRole role = CertRole::kDc;
  std::string name;          ///< the DC's zone, e.g. "dc1.ntm.test"
  crypto::Key static_key{};  ///< the server's static X25519 public key
  uint64_t not_before = 0;   ///< Unix seconds, inclusive
  uint64_t not_after = 0;    ///< Unix seconds, inclusive
  VerifyKey signer{};        ///< the AS's Ed25519 public key
};

enum class CertError { kOk, kMalformed, kUnknownSigner, kBadSignature, kNotYetValid, kExpired };
/// Short human text for logs ("ok", "malformed", "unknown signer", ...).
const char* to_string(CertError e);

/// Sizes of a certificate in bytes: kCertFixedSize + L with L = 1..253, so 148..400; parse_cert
/// refuses any other length before reading a field.
inline constexpr size_t kCertFixedSize = 147, kCertMinSize = 148, kCertMaxSize = 400;
/// The Ed25519 signature, the last 64 bytes; the 83 + L bytes before it are signed.
inline constexpr size_t kCertSignatureSize = 64;
/// The domain-separation prefix of the signature input (25 bytes, no NUL).
inline constexpr std::string_view kCertSignaturePrefix = "NTM server certificate v1";

/// True for a name a certificate may carry: 1..253 characters, labels of 1..63 of
/// [a-z0-9-] not starting or ending with '-', separated by single dots, no trailing dot.
bool valid_cert_name(const std::string& name);

/// Encodes `c` and signs it with `key`; the signer field is the public half of `key`
/// (c.signer is ignored). Returns an empty vector when `c` cannot be encoded: a name that
/// valid_cert_name refuses, or not_after <= not_before.
proto::Bytes sign_cert(const ServerCert& c, const SignKey& key);

/// Checks the format only (version, role, length, name, validity order); the signature is not
/// checked. nullopt with err = kMalformed otherwise.
std::optional<ServerCert> parse_cert(proto::ByteView b, CertError& err);

/// Verifies a certificate, in this order (the first failure is returned):
///   1. parse_cert (kMalformed);  2. signer ∈ trusted (kUnknownSigner);
///   3. the Ed25519 signature (kBadSignature);  4. now_unix >= not_before (kNotYetValid);
///   5. now_unix <= not_after (kExpired).
/// On kOk, *out (when given) holds the certificate.
CertError verify_cert(proto::ByteView b, const std::vector<VerifyKey>& trusted, uint64_t now_unix,
                      ServerCert* out);

/// Ed25519 key pair from a 32-byte seed (RFC 8032 §5.1.5), as crypto_sign_seed_keypair.
SignKey sign_key_from_seed(const std::array<uint8_t, 32>& seed);
/// The public half of a signing key (its last 32 bytes).
VerifyKey verify_key_of(const SignKey& key);

/// <dir>/<name>: the 32-byte Ed25519 seed as 44 characters of base64 + newline, mode 0600, in
/// a directory created 0700 (like crypto/static_key.h). Created when absent; an existing file
/// that is a symlink, not a regular file, accessible by group or others, or not such a seed is
/// an error (nullopt with `error`), never replaced.
std::optional<SignKey> load_or_create_sign_key(const std::string& dir, const std::string& name,
                                               std::string& error);

/// 44-character standard base64 (with padding) of an Ed25519 public key.
std::string verify_key_to_base64(const VerifyKey& k);
/// Parses it (surrounding whitespace ignored); nullopt unless 44 characters of 32 bytes.
std::optional<VerifyKey> verify_key_from_base64(const std::string& text);
/// A certificate as one line of standard base64 (with padding, no newline).
std::string cert_to_base64(proto::ByteView cert);
/// Parses base64 (surrounding whitespace trimmed); nullopt when it is not base64 or decodes to
/// more than kCertMaxSize bytes. The format is not checked (parse_cert does that).
std::optional<proto::Bytes> cert_from_base64(const std::string& text);

/// Reads a file holding one base64 certificate (what `ntm-as --sign-dc` prints). nullopt with
/// `error` when it cannot be read, is larger than 4 KiB, or is not base64 of at most
/// kCertMaxSize bytes.
std::optional<proto::Bytes> load_cert_file(const std::string& path, std::string& error);

}  // namespace ntm::server
