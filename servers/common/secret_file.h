// Shared secrets kept in files: the relay key a DC shares with its relay servers
// (docs/admin.md). Format: 32 bytes as 44 characters of standard base64 and a newline, in a
// regular file that only its owner may read (mode 0600, as ssh demands of private keys).
#pragma once

#include <optional>
#include <string>

#include "crypto/aead.h"

namespace ntm::server {

/// Reads a secret file. nullopt with `error` when it is missing, a symbolic link, readable by
/// group or others, or not 44 characters of base64 for 32 bytes.
std::optional<crypto::Key> load_secret_file(const std::string& path, std::string& error);
/// Writes a fresh random secret to `path` (created 0600; an existing file is not replaced).
bool write_secret_file(const std::string& path, std::string& error);

}  // namespace ntm::server
