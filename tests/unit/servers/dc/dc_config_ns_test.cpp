// ntm-dc's Notification Server options: `ns-dc` names the DC channel of each ntm-ns process
// (several share the node port with reuse-port; docs/admin.md "Running several ntm-ns
// processes"): 1 to 16 of them, distinct, each ip:port; anything else is a config error
// (exit code 2) that says what is wrong.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "dc/dc_config.h"
#include "dc/ns_fanout.h"
#include "servers/parse_args.h"

namespace ntm::dc {
namespace {

const std::string kKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

test::Parsed<DcConfig> parse(std::vector<std::string> extra) {
  std::vector<std::string> args = {"--state-dir", "/nonexistent",    "--domain", "dc1.example",
                                   "--ns",        "192.0.2.30:7400", "--ns-key", kKey};
  args.insert(args.end(), extra.begin(), extra.end());
  return test::parse_args(&parse_config, "ntm-dc", std::move(args));
}

TEST(DcConfigNs, EveryNsProcessIsListedInOrder) {
  auto p = parse({"--ns-dc", "127.0.0.1:7401", "--ns-dc", "[::1]:7402"});
  ASSERT_TRUE(p.config) << p.err;
  ASSERT_EQ(p.config->ns_dc.size(), 2u);
  EXPECT_EQ(p.config->ns_dc[0].to_string(), "127.0.0.1:7401");
  EXPECT_EQ(p.config->ns_dc[1].port(), 7402);
  EXPECT_TRUE(p.config->ns_dc[1].is_v6());
}

TEST(DcConfigNs, DuplicatesTooManyAndNoneAreRefusedWithTheReason) {
  auto dup = parse({"--ns-dc", "127.0.0.1:7401", "--ns-dc", "127.0.0.1:7401"});
  EXPECT_FALSE(dup.config);
  EXPECT_EQ(dup.exit_code, 2);
  EXPECT_NE(dup.err.find("ns-dc 127.0.0.1:7401 is given twice"), std::string::npos) << dup.err;

  std::vector<std::string> many;
  for (size_t i = 0; i <= NsFanout::kMaxProcesses; ++i) {
    many.push_back("--ns-dc");
    many.push_back("127.0.0.1:" + std::to_string(7401 + i));
  }
  auto too_many = parse(many);
  EXPECT_FALSE(too_many.config);
  EXPECT_EQ(too_many.exit_code, 2);
  EXPECT_NE(too_many.err.find("at most 16 NS processes"), std::string::npos) << too_many.err;
  many.resize(2 * NsFanout::kMaxProcesses);
  EXPECT_TRUE(parse(many).config);

  auto none = parse({});
  EXPECT_FALSE(none.config);
  EXPECT_NE(none.err.find("ns-dc (ip:port, one per NS process)"), std::string::npos) << none.err;

  auto bad = parse({"--ns-dc", "127.0.0.1:7401", "--ns-dc", "127.0.0.1"});
  EXPECT_FALSE(bad.config);
  EXPECT_NE(bad.err.find("ns-dc '127.0.0.1' is not ip:port"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace ntm::dc
