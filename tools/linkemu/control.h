// The emulator's control socket: an AF_UNIX SOCK_SEQPACKET socket in the abstract namespace.
// Abstract unix names belong to a network namespace, so every router namespace can run its
// own emulator under the same name, and nothing is left in the file system afterwards.
//
// One request per connection, one reply, as text:
//   "set <queue> key=value ..."  ->  "ok <queue> <settings>" | "error <why>"
//   "stats"                      ->  one line per queue: "queue=N received=.. passed=.. ..."
#pragma once

#include <string>

namespace ntm::linkemu {

// Listens on abstract name `name`. Returns the fd or -errno (-EADDRINUSE: another emulator
// already runs in this network namespace under that name).
int control_listen(const std::string& name);
// Accepts one connection on `listen_fd` and reads its request into `request`.
// Returns the connection fd or -errno.
int control_accept(int listen_fd, std::string& request);
// Sends `reply` on `conn` and closes it.
void control_reply(int conn, const std::string& reply);
// Client side: sends `request` to the emulator called `name` and waits (at most
// `timeout_ms`) for its reply. Returns 0 or -errno.
int control_call(const std::string& name, const std::string& request, std::string& reply,
                 int timeout_ms);

}  // namespace ntm::linkemu
