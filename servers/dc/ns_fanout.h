// The DC's channels to every process of its Notification Server (docs/protocol.md §17.3;
// docs/admin.md "Running several ntm-ns processes"): several ntm-ns processes may share the
// node port with SO_REUSEPORT, and the kernel gives each node's TCP connection to one of them,
// which the DC cannot know. So the DC holds one NsClient (one UDP channel, ns-dc) per process
// and asks all of them, in parallel, to notify the node; only the process holding the node's
// connection answers "sent" (status 0), the others "no connection" (status 4). The
// notification's outcome is decided once:
//   kSent         as soon as any process answered status 0 (the rest are still counted by
//                 their NsClient, but `done` has run);
//   kNoConnection when every process answered or failed and at least one said status 4;
//   kUnavailable  otherwise, when at least one did not answer in time (or had too many
//                 notifications waiting);
//   kRefused      when every process refused the DC (status 1/2).
// Costs N datagrams per notification (and N answers) for N processes. Everything runs on the
// DC's io_context.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "dc/ns_client.h"

namespace ntm::dc {

/// Counts per notification (not per process): each notification is counted once in
/// `notify_requests` and once in exactly one of `sent`, `no_connection`, `failed`.
struct NsFanoutStats {
  uint64_t notify_requests = 0, sent = 0, no_connection = 0, failed = 0;
};

class NsFanout {
 public:
  using Result = NsClient::Result;
  using Done = NsClient::Done;
  /// A DC may list this many NS processes at most (ns-dc is repeatable 1..kMaxProcesses).
  static constexpr size_t kMaxProcesses = 16;

  /// One NsClient per endpoint of `processes` (1..kMaxProcesses, distinct; the caller checks),
  /// all pinned to the same `ns_public` (the processes share ns.key). `timeout` bounds each
  /// process's answer, as NsClient's.
  NsFanout(asio::io_context& io, const crypto::StaticKeyPair& dc_key, const crypto::Key& ns_public,
           const std::vector<proto::Endpoint>& processes, std::chrono::milliseconds timeout);
  /// Opens every client's socket; false and `error` set on the first that cannot.
  bool open(std::string& error);
  /// Asks every process to notify `node`. `done` (may be empty) runs later on the io_context,
  /// exactly once, with the outcome above, unless the fan-out is destroyed first.
  void notify(const crypto::Key& node, Done done = nullptr);
  const NsFanoutStats& stats() const { return stats_; }
  size_t size() const { return clients_.size(); }
  /// The channel to process `i` (in the order given), with its own per-process counters.
  const NsClient& client(size_t i) const { return *clients_.at(i); }
  /// NsClientStats summed over the processes (handshakes, retransmissions, drops, ...).
  NsClientStats totals() const;

 private:
  struct Pending;
  void on_result(const std::shared_ptr<Pending>& p, Result r);

  std::vector<std::unique_ptr<NsClient>> clients_;
  NsFanoutStats stats_;
};

}  // namespace ntm::dc
