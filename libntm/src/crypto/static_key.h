// Long-term X25519 identity keys of nodes and servers, stored in a state directory.
//
// File format: the private key as 44 characters of standard base64 and a newline, mode 0600.
// The public key is shown and pinned in the same base64 form.
#pragma once

#include <optional>
#include <string>

#include "crypto/aead.h"

namespace ntm::crypto {

struct StaticKeyPair {
  Key private_key;
  Key public_key;
};

/// Loads `dir`/`name`, or creates the directory (0700) and a fresh key file (0600) when absent.
/// Returns nullopt and sets `error` when the file exists but is not a valid key, or on I/O error.
std::optional<StaticKeyPair> load_or_create_key(const std::string& dir, const std::string& name,
                                                std::string& error);

/// Loads the 32-byte secret in `dir`/`name` (the format above: a regular file, no symlink,
/// mode 0600), or creates the directory (0700) and the file holding `fresh` — written to a
/// temporary file and linked into place, so that of two processes creating it at once both
/// end up with the same secret. `what` names the secret in errors ("an X25519 private key").
/// Returns nullopt and sets `error` when the file exists but is unusable, or on I/O error.
std::optional<Key> load_or_create_secret(const std::string& dir, const std::string& name,
                                         const Key& fresh, const char* what, std::string& error);

/// 44-character base64 of a key.
std::string key_to_base64(const Key& k);
/// Parses 44-character base64 (surrounding whitespace ignored); nullopt otherwise.
std::optional<Key> key_from_base64(const std::string& text);

}  // namespace ntm::crypto
