#include "common/secret_file.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "crypto/static_key.h"

namespace ntm::server {

std::optional<crypto::Key> load_secret_file(const std::string& path, std::string& error) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    error = "cannot read " + path + ": " +
            (errno == ELOOP ? std::string("it is a symbolic link") : std::strerror(errno));
    return std::nullopt;
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    error = path + " is not a regular file";
    return std::nullopt;
  }
  if (st.st_mode & 077) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", unsigned(st.st_mode & 07777));
    error = path + " is accessible by group or others (mode " + mode + "): chmod 600 " + path;
    return std::nullopt;
  }
  char buf[256];
  ssize_t n = ::read(fd, buf, sizeof buf);
  ::close(fd);
  if (n < 0) {
    error = "cannot read " + path + ": " + std::strerror(errno);
    return std::nullopt;
  }
  auto k = crypto::key_from_base64(std::string(buf, size_t(n)));
  sodium_memzero(buf, sizeof buf);
  if (!k) error = path + " does not hold 32 bytes in base64 (44 characters)";
  return k;
}

bool write_secret_file(const std::string& path, std::string& error) {
  crypto::init();
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    error = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  crypto::Key k;
  crypto::random_bytes(k.data(), k.size());
  std::string text = crypto::key_to_base64(k) + "\n";
  sodium_memzero(k.data(), k.size());
  bool ok = ::write(fd, text.data(), text.size()) == ssize_t(text.size()) && fsync(fd) == 0;
  sodium_memzero(text.data(), text.size());
  ::close(fd);
  if (!ok) error = "cannot write " + path + ": " + std::strerror(errno);
  return ok;
}

}  // namespace ntm::server
