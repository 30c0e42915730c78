// A minimal NFQUEUE client speaking nfnetlink directly (no libnetfilter_queue), enough to
// hold packets and hand back verdicts later.
//
// The kernel keeps each queued packet; userspace sees only metadata (packet id and length,
// NFQNL_COPY_META) and answers ACCEPT or DROP by id, in any order, whenever it likes. That
// makes "delay" a matter of answering late, with no copy of the payload.
//
// Packets reach a queue through an iptables rule (`-j NFQUEUE --queue-num N`): this kernel
// has the xtables NFQUEUE target but not nft's native `queue` statement.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace ntm::linkemu {

struct QueuedPacket {
  std::uint16_t queue;  // NFQUEUE number the packet was queued to
  std::uint32_t id;     // kernel packet id, unique within the queue
  std::uint32_t bytes;  // full packet length (0 if the kernel did not say)
};

class NfQueue {
 public:
  NfQueue() = default;
  ~NfQueue();
  NfQueue(const NfQueue&) = delete;
  NfQueue& operator=(const NfQueue&) = delete;

  // Opens the netlink socket in the caller's network namespace with a receive buffer of
  // `rcvbuf` bytes. Returns 0 or -errno.
  int open(int rcvbuf);
  // Binds queue `num` for this socket: metadata-only copies, GSO packets kept whole, at most
  // `maxlen` packets waiting in the kernel. Returns 0 or -errno (-EBUSY: bound elsewhere).
  int bind(std::uint16_t num, std::uint32_t maxlen);
  // Switches the socket to non-blocking after setup.
  int set_nonblocking();
  int fd() const { return fd_; }

  // Reads the netlink datagrams waiting (kBatch per recvmmsg, at most kMaxBatches calls) and
  // appends the packets in them to `out`. Returns the number appended, or -errno (-EAGAIN
  // when nothing is waiting).
  int receive(std::vector<QueuedPacket>& out);
  static constexpr int kBatch = 64, kMaxBatches = 8;
  // Queues a verdict for sending; nothing reaches the kernel until flush().
  void verdict(std::uint16_t queue, std::uint32_t id, bool accept);
  // Sends every queued verdict in one sendmsg. Returns 0 or -errno.
  int flush();

 private:
  int request(std::uint16_t type, std::uint16_t queue, const std::vector<std::uint8_t>& attrs);

  int fd_ = -1;
  std::uint32_t seq_ = 0;
  std::vector<std::uint8_t> out_;  // verdict messages waiting for flush()
  // One buffer per datagram of a recvmmsg batch. Packets arrive as metadata only
  // (NFQNL_COPY_META), a few hundred bytes each; the first also serves control replies.
  std::vector<std::uint8_t> in_ = std::vector<std::uint8_t>(kBatch * kSlot);
  static constexpr std::size_t kSlot = 8192;
  int parse(const std::uint8_t* data, int len, std::vector<QueuedPacket>& out);
};

}  // namespace ntm::linkemu
