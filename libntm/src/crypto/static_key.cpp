#include "crypto/static_key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace ntm::crypto {

std::string key_to_base64(const Key& k) {
  char out[sodium_base64_ENCODED_LEN(32, sodium_base64_VARIANT_ORIGINAL)];
  sodium_bin2base64(out, sizeof out, k.data(), k.size(), sodium_base64_VARIANT_ORIGINAL);
  return out;
}

std::optional<Key> key_from_base64(const std::string& text) {
  auto b = text.find_first_not_of(" \t\r\n");
  auto e = text.find_last_not_of(" \t\r\n");
  if (b == std::string::npos) return std::nullopt;
  std::string t = text.substr(b, e - b + 1);
  if (t.size() != 44) return std::nullopt;
  Key k;
  size_t len = 0;
  if (sodium_base642bin(k.data(), k.size(), t.data(), t.size(), nullptr, &len, nullptr,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      len != 32)
    return std::nullopt;
  return k;
}

std::optional<StaticKeyPair> load_or_create_key(const std::string& dir, const std::string& name,
                                                std::string& error) {
  init();
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = "cannot create " + dir + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string path = dir + "/" + name;
  // An existing key that cannot be read is an error, never a reason to make a new identity.
  if (::access(path.c_str(), F_OK) == 0 && ::access(path.c_str(), R_OK) != 0) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::ifstream in(path);
  if (in) {
    std::stringstream ss;
    ss << in.rdbuf();
    if (in.bad()) {
      error = "cannot read " + path;
      return std::nullopt;
    }
    auto k = key_from_base64(ss.str());
    if (!k) {
      error = path + " is not a base64 X25519 private key";
      return std::nullopt;
    }
    return StaticKeyPair{*k, public_key(*k)};
  }
  StaticKeyPair kp{random_private_key(), {}};
  kp.public_key = public_key(kp.private_key);
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (fd < 0) {
    error = "cannot write " + tmp + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string text = key_to_base64(kp.private_key) + "\n";
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && fsync(fd) == 0;
  ::close(fd);
  if (!ok || rename(tmp.c_str(), path.c_str()) != 0) {
    error = "cannot write " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  return kp;
}

}  // namespace ntm::crypto
