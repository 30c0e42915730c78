// The socket module's side of the node life cycle (socket.cpp): the table of open ntm sockets.
#pragma once

#include <cstddef>

namespace ntm::socket {

/// Sockets a node may have open at once when ntm_config.max_sockets is 0.
inline constexpr size_t kDefaultMaxSockets = 4096;

/// Sets the table size for the next node (0: kDefaultMaxSockets). Call before ntm_start()
/// returns; ntm_socket() and ntm_accept() fail with ENFILE when the table is full.
void set_socket_limit(size_t max_sockets);
/// Closes every socket still open (ntm_stop()); their descriptors become invalid (EBADF).
void close_all_sockets();
/// Sockets open now (ntm_stats.sockets_open).
size_t open_sockets();

}  // namespace ntm::socket
