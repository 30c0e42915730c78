// The in-process node "self" for the C API tests: a real ntm-dc (DcFixture) and a config
// pointing at it; each test starts the node itself (ntm::Node or ntm_start).
#pragma once

#include <arpa/inet.h>

#include "dc_fixture.h"
#include "ntm/ntm.h"

namespace ntm::test {

class Api : public DcFixture {
 protected:
  void SetUp() override {
    start_dc();
    configure();
  }
  /// Points cfg_ at the DC that runs now (call again after restarting it).
  void configure() {
    env_ = node_env("self");
    ntm_config_init(&cfg_);
    cfg_.dc_address = env_["NTM_DC"].c_str();
    cfg_.dc_public_key = env_["NTM_DC_KEY"].c_str();
    cfg_.node_name = "self";
    cfg_.state_dir = env_["NTM_STATE_DIR"].c_str();
    cfg_.bind_address = "127.0.0.1:0";
    cfg_.start_timeout_ms = 30000;  // see DcFixture::node_env
  }
  std::map<std::string, std::string> env_;
  ntm_config cfg_;
};

/// This node's IPv4 vIP with `port`.
inline sockaddr_in vip4_port(uint16_t port) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  EXPECT_EQ(ntm_get_vip(AF_INET, reinterpret_cast<sockaddr*>(&a), &len), 0);
  a.sin_port = htons(port);
  return a;
}

/// The node's counters now.
inline ntm_stats stats_now() {
  ntm_stats s{};
  EXPECT_EQ(ntm_get_stats(&s), 0);
  return s;
}

}  // namespace ntm::test
