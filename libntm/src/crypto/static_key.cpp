#include "crypto/static_key.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

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

namespace {

/// Reads a secret file like ssh reads a private key: no symlink, a regular file, and not
/// readable or writable by group or others.
std::optional<Key> read_secret(const std::string& path, int fd, const char* what,
                               std::string& error) {
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    error = path + " is not a regular file";
    return std::nullopt;
  }
  if (st.st_mode & 077) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    error = path + " is accessible by group or others (mode " + mode + "); " + what +
            " must be 0600: chmod 600 " + path;
    return std::nullopt;
  }
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  if (n < 0) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  auto k = key_from_base64(std::string(buf, size_t(n)));
  sodium_memzero(buf, sizeof buf);
  if (!k) error = path + " does not hold " + what + " (44 characters of base64)";
  return k;
}

}  // namespace

std::optional<Key> load_or_create_secret(const std::string& dir, const std::string& name,
                                         const Key& fresh, const char* what, std::string& error) {
  init();
  if (mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    error = "cannot create " + dir + ": " + std::strerror(errno);
    return std::nullopt;
  }
  std::string path = dir + "/" + name;
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      auto k = read_secret(path, fd, what, error);
      ::close(fd);
      return k;
    }
    // An existing secret that cannot be read is an error, never a reason to make a new one.
    if (errno != ENOENT) {
      error = "cannot read " + path + ": " +
              (errno == ELOOP ? std::string("it is a symbolic link") : std::strerror(errno));
      return std::nullopt;
    }
    // Write the new secret to a file only we can have created (O_EXCL, no symlink followed),
    // then link it into place: link() fails if another process created it meanwhile, and we
    // load theirs instead.
    std::string tmp = path + ".tmp." + std::to_string(getpid());
    ::unlink(tmp.c_str());
    fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
      error = "cannot write " + tmp + ": " + std::strerror(errno);
      return std::nullopt;
    }
    std::string text = key_to_base64(fresh) + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && fsync(fd) == 0;
    sodium_memzero(text.data(), text.size());
    ::close(fd);
    int linked = ok ? ::link(tmp.c_str(), path.c_str()) : -1;
    int link_errno = errno;
    ::unlink(tmp.c_str());
    if (linked == 0) return fresh;
    if (!ok || link_errno != EEXIST) {
      error = "cannot write " + path + ": " + std::strerror(link_errno);
      return std::nullopt;
    }
  }
  error = "cannot create " + path;
  return std::nullopt;
}

std::optional<StaticKeyPair> load_or_create_key(const std::string& dir, const std::string& name,
                                                std::string& error) {
  init();
  Key fresh = random_private_key();
  auto k = load_or_create_secret(dir, name, fresh, "an X25519 private key", error);
  sodium_memzero(fresh.data(), fresh.size());
  if (!k) return std::nullopt;
  StaticKeyPair kp{*k, public_key(*k)};
  sodium_memzero(k->data(), k->size());
  return kp;
}

}  // namespace ntm::crypto
