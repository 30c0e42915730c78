// Tunnel set-up time, for bench/paths_setup.sh: the same source is built against this tree and
// against main's (the baseline measured in the same run), so it uses only the API both have.
//   ntm-setup-time wait          start a node (NTM_DC, NTM_DC_KEY, NTM_NAME, NTM_STATE_DIR),
//                                print "ready", stay until killed
//   ntm-setup-time probe FQDN    start a node, then time ntm_getaddrinfo + ntm_wait_tunnel to
//                                FQDN: "setup ms=X" (or "fail ..." and exit 1), then stop
//   ntm-setup-time start         time ntm_start (handshake and registration: node start → vIP;
//                                bench/start_time.sh): "start ms=X", then stop
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "common/node_options.h"
#include "ntm/ntm.h"

int main(int argc, char** argv) {
  if (argc < 2 || (std::strcmp(argv[1], "probe") == 0 && argc < 3)) {
    std::fprintf(stderr, "usage: ntm-setup-time wait | probe FQDN | start\n");
    return 2;
  }
  ntm::apps::NodeOptions node;
  ntm_config cfg;
  if (!node.complete("ntm-setup-time")) return 1;
  auto started = std::chrono::steady_clock::now();
  if (!node.start_node("ntm-setup-time", cfg)) return 1;
  if (std::strcmp(argv[1], "start") == 0) {
    double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    std::printf("start ms=%.3f\n", ms);
    std::fflush(stdout);
    ntm_stop();
    return 0;
  }
  if (std::strcmp(argv[1], "wait") == 0) {
    std::printf("ready\n");
    std::fflush(stdout);
    for (;;) pause();
  }
  sockaddr_in vip{};
  socklen_t len = sizeof vip;
  auto t0 = std::chrono::steady_clock::now();
  if (ntm_getaddrinfo(argv[2], AF_INET, 7000, reinterpret_cast<sockaddr*>(&vip), &len) != 0 ||
      ntm_wait_tunnel(reinterpret_cast<sockaddr*>(&vip), len, 10000) != 0) {
    std::printf("fail %s\n", ntm_last_error());
    ntm_stop();
    return 1;
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  std::printf("setup ms=%.3f\n", ms);
  std::fflush(stdout);
  ntm_stop();
  return 0;
}
