// Static identity keys: a node's identity at its DC (and the DC's pinned key) is the key file in
// the state directory, so it must be created private, survive restarts unchanged, and never be
// silently replaced when the file exists but cannot be used.
#include "crypto/static_key.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

namespace ntm::crypto {
namespace {

namespace fs = std::filesystem;

std::string read_file(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

/// Writes a key file as a careful admin would: mode 0600.
void write_file(const fs::path& p, const std::string& text, mode_t mode = 0600) {
  {
    std::ofstream out(p, std::ios::trunc);
    out << text;
  }
  chmod(p.c_str(), mode);
}

/// Runs `fn` in a child process without root's right to read any file (as "nobody" when the
/// tests run as root); returns its exit status.
int run_unprivileged(const std::function<int()>& fn) {
  pid_t pid = fork();
  if (pid == 0) {
    if (geteuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0)) _exit(99);
    _exit(fn());
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 98;
}

class StaticKeyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    init();
    char tmpl[] = "/tmp/ntm-static-key-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    state_ = root_ / "state";
  }
  void TearDown() override { fs::remove_all(root_); }

  fs::path root_, state_;
};

TEST_F(StaticKeyTest, CreatesPrivateDirectoryAndKeyFile) {
  std::string error;
  auto kp = load_or_create_key(state_, "node.key", error);
  ASSERT_TRUE(kp) << error;
  EXPECT_EQ(kp->public_key, public_key(kp->private_key));

  struct stat st;
  ASSERT_EQ(stat(state_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  ASSERT_EQ(stat((state_ / "node.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_FALSE(fs::exists(state_ / "node.key.tmp"));

  std::string text = read_file(state_ / "node.key");
  ASSERT_EQ(text.size(), 45u);  // 44 base64 characters and a newline
  EXPECT_EQ(text.back(), '\n');
  EXPECT_EQ(key_from_base64(text), kp->private_key);
}

TEST_F(StaticKeyTest, ReloadGivesTheSameKey) {
  std::string error;
  auto first = load_or_create_key(state_, "dc.key", error);
  ASSERT_TRUE(first) << error;
  auto again = load_or_create_key(state_, "dc.key", error);
  ASSERT_TRUE(again) << error;
  EXPECT_EQ(again->private_key, first->private_key);
  EXPECT_EQ(again->public_key, first->public_key);
  auto other = load_or_create_key(state_, "other.key", error);  // another name, another key
  ASSERT_TRUE(other) << error;
  EXPECT_NE(other->private_key, first->private_key);
}

TEST_F(StaticKeyTest, LoadsAHandWrittenKeyWithSurroundingWhitespace) {
  Key k;
  for (size_t i = 0; i < k.size(); ++i) k[i] = uint8_t(i);
  fs::create_directory(state_);
  write_file(state_ / "node.key", "  \t" + key_to_base64(k) + "\r\n\n");
  std::string error;
  auto kp = load_or_create_key(state_, "node.key", error);
  ASSERT_TRUE(kp) << error;
  EXPECT_EQ(kp->private_key, k);
}

TEST_F(StaticKeyTest, CorruptFileIsRefusedAndKept) {
  fs::create_directory(state_);
  std::string good = key_to_base64(random_private_key());
  for (const std::string& bad :
       {std::string("not a key\n"), std::string(""), good.substr(0, 43) + "\n", good + "A\n",
        good.substr(0, 10) + "!" + good.substr(11)}) {
    write_file(state_ / "node.key", bad);
    std::string error;
    EXPECT_FALSE(load_or_create_key(state_, "node.key", error)) << "'" << bad << "'";
    EXPECT_NE(error.find("node.key"), std::string::npos) << error;
    EXPECT_EQ(read_file(state_ / "node.key"), bad);  // never overwritten
  }
}

TEST_F(StaticKeyTest, KeyReadableByOthersIsRefusedLikeSsh) {
  fs::create_directory(state_);
  std::string good = key_to_base64(random_private_key()) + "\n";
  for (mode_t mode : {0640, 0604, 0660, 0644}) {
    write_file(state_ / "node.key", good, mode);
    std::string error;
    EXPECT_FALSE(load_or_create_key(state_, "node.key", error)) << std::oct << mode;
    EXPECT_NE(error.find("chmod 600"), std::string::npos) << error;
    EXPECT_EQ(read_file(state_ / "node.key"), good);  // never replaced
  }
  chmod((state_ / "node.key").c_str(), 0400);  // read-only for the owner is fine
  std::string error;
  EXPECT_TRUE(load_or_create_key(state_, "node.key", error)) << error;
}

TEST_F(StaticKeyTest, SymlinkedKeyIsRefusedAndNotWrittenThrough) {
  fs::create_directory(state_);
  fs::path elsewhere = root_ / "elsewhere";
  fs::create_symlink(elsewhere, state_ / "node.key");  // dangling: creation would write there
  std::string error;
  EXPECT_FALSE(load_or_create_key(state_, "node.key", error));
  EXPECT_NE(error.find("symbolic link"), std::string::npos) << error;
  EXPECT_FALSE(fs::exists(elsewhere));
  write_file(elsewhere, key_to_base64(random_private_key()) + "\n");
  EXPECT_FALSE(load_or_create_key(state_, "node.key", error)) << "a symlink to a valid key";
}

TEST_F(StaticKeyTest, APlantedTemporaryFileIsNotFollowed) {
  fs::create_directory(state_);
  fs::path target = root_ / "target";
  write_file(target, "precious\n");
  // Whatever sits at the temporary name (here a symlink to another file) is not written to.
  fs::create_symlink(target, state_ / ("node.key.tmp." + std::to_string(getpid())));
  std::string error;
  auto kp = load_or_create_key(state_, "node.key", error);
  ASSERT_TRUE(kp) << error;
  EXPECT_EQ(read_file(target), "precious\n");
  struct stat st;
  ASSERT_EQ(lstat((state_ / "node.key").c_str(), &st), 0);
  EXPECT_TRUE(S_ISREG(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

TEST_F(StaticKeyTest, UncreatableDirectoryIsAnError) {
  std::string error;
  EXPECT_FALSE(load_or_create_key((root_ / "missing" / "state").string(), "k", error));
  EXPECT_NE(error.find("cannot create"), std::string::npos) << error;
}

TEST_F(StaticKeyTest, UnreadableKeyFileIsAnErrorNotReplaced) {
  std::string error;
  auto original = load_or_create_key(state_, "node.key", error);
  ASSERT_TRUE(original) << error;
  fs::path key = state_ / "node.key";
  ASSERT_EQ(chmod(key.c_str(), 0200), 0);  // write-only: exists, cannot be read
  if (geteuid() == 0) {
    for (const fs::path& p : {root_, state_, key}) ASSERT_EQ(chown(p.c_str(), 65534, 65534), 0);
  }
  int status = run_unprivileged([&] {
    std::string err;
    return load_or_create_key(state_, "node.key", err) ? 1 : 0;
  });
  EXPECT_EQ(status, 0) << "load_or_create_key succeeded on an unreadable key file";
  ASSERT_EQ(chmod(key.c_str(), 0600), 0);
  EXPECT_EQ(key_from_base64(read_file(key)), original->private_key) << "the identity was replaced";
}

TEST(KeyBase64Test, RoundTrip) {
  init();
  for (int i = 0; i < 100; ++i) {
    Key k = random_private_key();
    std::string text = key_to_base64(k);
    ASSERT_EQ(text.size(), 44u);
    EXPECT_EQ(text.back(), '=');
    EXPECT_EQ(key_from_base64(text), k);
  }
  Key zero{};
  EXPECT_EQ(key_to_base64(zero), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
}

TEST(KeyBase64Test, RefusesAnythingButOneStandardBase64Key) {
  init();
  std::string good = key_to_base64(random_private_key());
  EXPECT_TRUE(key_from_base64(" " + good + "\n"));
  for (const std::string& bad :
       {std::string(), std::string("   "), good.substr(0, 43), good + "A", good.substr(0, 43) + "A",
        std::string(44, '='), good.substr(0, 10) + "-" + good.substr(11),  // URL-safe alphabet
        good.substr(0, 20) + " " + good.substr(21), std::string(59, 'A') + "="}) {
    EXPECT_FALSE(key_from_base64(bad)) << "'" << bad << "'";
  }
}

}  // namespace
}  // namespace ntm::crypto
