// ntm-testnode's shared pieces: parsed options, errno names, address helpers, the byte
// pattern both ends verify, and the "hold" loop that keeps a node up for the test.
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace ntm::testnode {

extern std::map<std::string, std::string> g_opts;
extern std::vector<std::string> g_pos;

bool flag(const char* name);
long num(const char* name, long def);
std::string opt(const char* name, const std::string& def);
/// AF_INET6 with --v6, else AF_INET.
int family();

const char* errno_name(int e);
std::string addr_text(const sockaddr* a);
/// `ip`:`port` for this node's family (the wildcard address when `ip` is empty).
socklen_t make_addr(sockaddr_storage& a, int family, uint16_t port);
/// ntm_getaddrinfo for the node's family; prints "error errno=... text=..." on failure.
bool resolve(const std::string& name, uint16_t port, sockaddr_storage& out, socklen_t& len);
bool send_all(int s, const uint8_t* p, size_t n);
void print_stats();
/// Byte i of connection c's stream: a marker repeated, or a pattern that catches reordering.
uint8_t pattern(int c, size_t i, const std::string& marker);
/// With --hold: answers "stats" lines on stdin with a stats line, until stdin ends.
void hold();

// Commands (testnode_tcp.cpp, testnode_udp.cpp).
int cmd_serve_tcp();
int cmd_client_tcp();
int cmd_serve_udp();
int cmd_client_udp();
int cmd_eventfd_client();

}  // namespace ntm::testnode
