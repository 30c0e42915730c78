// ntm-as's configuration: where the accounts live. The SQLite file by default, a PostgreSQL
// database with `postgres`, and never both (a config error, exit code 2, that says so).
#include "as/as_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "servers/parse_args.h"

namespace ntm::as {
namespace {

test::Parsed<AsConfig> parse(std::vector<std::string> args) {
  return test::parse_args(&parse_config, "ntm-as", std::move(args));
}

const std::string kConninfo = "host=/run/postgresql dbname=ntm user=ntm_as";

TEST(AsConfig, TheAccountsAreInSqliteByDefault) {
  auto p = parse({"--state-dir", "/var/lib/x"});
  ASSERT_TRUE(p.config) << p.err;
  EXPECT_EQ(p.config->database, "/var/lib/x/accounts.sqlite3");
  EXPECT_EQ(p.config->postgres, "");
}

TEST(AsConfig, PostgresReplacesTheSqliteFile) {
  auto p = parse({"--state-dir", "/var/lib/x", "--postgres", kConninfo});
  ASSERT_TRUE(p.config) << p.err;
  EXPECT_EQ(p.config->postgres, kConninfo);
  EXPECT_EQ(p.config->database, "") << "no SQLite file is used";
}

TEST(AsConfig, PostgresAndDatabaseTogetherAreAnError) {
  auto p = parse({"--database", "/tmp/a.sqlite3", "--postgres", kConninfo});
  EXPECT_FALSE(p.config);
  EXPECT_EQ(p.exit_code, 2) << "as the other config errors";
  EXPECT_NE(p.err.find("database"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("postgres"), std::string::npos) << p.err;
  EXPECT_NE(p.err.find("both set"), std::string::npos) << p.err;
  // The same from a config file, and one key from each place.
  char tmpl[] = "/tmp/ntm-as-config-XXXXXX";
  std::string dir = mkdtemp(tmpl);
  std::string file = dir + "/ntm-as.conf";
  std::ofstream(file) << "database = /tmp/a.sqlite3\npostgres = " << kConninfo << "\n";
  p = parse({"--config", file});
  EXPECT_FALSE(p.config);
  EXPECT_EQ(p.exit_code, 2);
  std::ofstream(file) << "postgres = " << kConninfo << "\n";
  p = parse({"--config", file});
  ASSERT_TRUE(p.config) << p.err;
  EXPECT_EQ(p.config->postgres, kConninfo) << "the '=' inside the value are kept";
  p = parse({"--config", file, "--database", "/tmp/a.sqlite3"});
  EXPECT_FALSE(p.config);
  EXPECT_EQ(p.exit_code, 2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace ntm::as
