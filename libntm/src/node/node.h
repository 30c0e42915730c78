// A running node: the objects behind the C API and their threads.
//
// Threads: the application's; lwIP's tcpip thread (its timers); the receive thread
// (packet/receive.cpp); the negotiation thread (one asio::io_context running the
// negotiation module). Locks: lwIP's core lock around the stack; the tunnel table's
// shared mutex; nothing is held across a blocking call.
#pragma once

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "crypto/static_key.h"
#include "negotiation/negotiator.h"
#include "node/linger.h"
#include "ntm/ntm.h"
#include "packet/data_plane.h"

namespace ntm::node {

class Node {
 public:
  Node() = default;
  ~Node() { stop(); }

  /// Returns 0 or an errno value with `error` set (see ntm_start()).
  int start(const ntm_config& cfg, std::string& error);
  /// ntm_config.stop_linger_ms when 0, and how long stop() waits without progress.
  static constexpr uint32_t kDefaultLingerMs = 60000, kLingerStallMs = 20000;

  /// Lets closed TCP connections deliver what they still hold while they make progress (at
  /// most the configured linger time), then tears everything down. Returns what could not
  /// be delivered (linger.h).
  LingerResult stop();

  asio::io_context io;
  packet::UdpTransport udp;
  packet::TunnelTable tunnels;
  packet::Stats stats;
  std::unique_ptr<negotiation::Negotiator> negotiator;
  std::unique_ptr<packet::DataPlane> data_plane;
  crypto::Key public_key{};  ///< this node's identity

 private:
  std::unique_ptr<asio::executor_work_guard<asio::io_context::executor_type>> work_;
  uint32_t linger_ms_ = kDefaultLingerMs;
  /// Control datagrams posted to the negotiation thread and not yet handled.
  static constexpr int kMaxControlQueue = 1024;
  std::atomic<int> control_queued_{0};
  std::thread io_thread_;
};

/// The process's node, or nullptr when none is running. Set by ntm_start() after the node
/// is up and cleared by ntm_stop() before it is torn down.
Node* current();
void set_current(Node* n);

}  // namespace ntm::node
