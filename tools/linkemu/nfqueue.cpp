#include "nfqueue.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/nfnetlink_queue.h>
#include <linux/netlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace ntm::linkemu {

namespace {

constexpr std::size_t kMaxPendingVerdictBytes = 48 * 1024;

template <typename T>
void append(std::vector<std::uint8_t>& buf, const T& value) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(&value);
  buf.insert(buf.end(), p, p + sizeof(T));
}

void pad(std::vector<std::uint8_t>& buf) {
  buf.resize(NLMSG_ALIGN(buf.size()), 0);
}

template <typename T>
void put_attr(std::vector<std::uint8_t>& buf, std::uint16_t type, const T& value) {
  nlattr attr{};
  attr.nla_len = static_cast<std::uint16_t>(NLA_HDRLEN + sizeof(T));
  attr.nla_type = type;
  append(buf, attr);
  append(buf, value);
  pad(buf);
}

// Appends nlmsghdr + nfgenmsg for `type` on `queue`, then `attrs`; patches the length.
void put_message(std::vector<std::uint8_t>& buf, std::uint16_t type, std::uint16_t flags,
                 std::uint32_t seq, std::uint16_t queue, const std::uint8_t* attrs,
                 std::size_t attrs_len) {
  std::size_t start = buf.size();
  nlmsghdr hdr{};
  hdr.nlmsg_type = static_cast<std::uint16_t>((NFNL_SUBSYS_QUEUE << 8) | type);
  hdr.nlmsg_flags = static_cast<std::uint16_t>(NLM_F_REQUEST | flags);
  hdr.nlmsg_seq = seq;
  append(buf, hdr);
  nfgenmsg gen{};
  gen.nfgen_family = AF_UNSPEC;
  gen.version = NFNETLINK_V0;
  gen.res_id = htons(queue);
  append(buf, gen);
  pad(buf);
  buf.insert(buf.end(), attrs, attrs + attrs_len);
  auto len = static_cast<std::uint32_t>(buf.size() - start);
  std::memcpy(buf.data() + start + offsetof(nlmsghdr, nlmsg_len), &len, sizeof len);
}

}  // namespace

NfQueue::~NfQueue() {
  if (fd_ >= 0) ::close(fd_);
}

int NfQueue::open(int rcvbuf) {
  fd_ = ::socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  if (fd_ < 0) return -errno;
  // Root may exceed rmem_max; a deep buffer absorbs bursts while we sleep on the timer.
  if (::setsockopt(fd_, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  }
  // If the buffer does overflow the kernel drops those packets itself; don't fail reads.
  int one = 1;
  ::setsockopt(fd_, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
  sockaddr_nl local{};
  local.nl_family = AF_NETLINK;
  if (::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) < 0) return -errno;
  return 0;
}

int NfQueue::request(std::uint16_t type, std::uint16_t queue,
                     const std::vector<std::uint8_t>& attrs) {
  std::vector<std::uint8_t> msg;
  std::uint32_t seq = ++seq_;
  put_message(msg, type, NLM_F_ACK, seq, queue, attrs.data(), attrs.size());
  if (::send(fd_, msg.data(), msg.size(), 0) < 0) return -errno;
  // Setup happens before any rule sends packets here, so the next reply is our ack.
  for (;;) {
    ssize_t n = ::recv(fd_, in_.data(), in_.size(), 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -errno;
    }
    int len = static_cast<int>(n);
    for (auto* h = reinterpret_cast<nlmsghdr*>(in_.data()); NLMSG_OK(h, len);
         h = NLMSG_NEXT(h, len)) {
      if (h->nlmsg_type == NLMSG_ERROR && h->nlmsg_seq == seq) {
        return static_cast<const nlmsgerr*>(NLMSG_DATA(h))->error;
      }
    }
  }
}

int NfQueue::bind(std::uint16_t num, std::uint32_t maxlen) {
  std::vector<std::uint8_t> attrs;
  nfqnl_msg_config_cmd cmd{};
  cmd.command = NFQNL_CFG_CMD_BIND;
  put_attr(attrs, NFQA_CFG_CMD, cmd);
  if (int rc = request(NFQNL_MSG_CONFIG, num, attrs); rc != 0) return rc;

  attrs.clear();
  nfqnl_msg_config_params params{};
  params.copy_range = htonl(0);
  params.copy_mode = NFQNL_COPY_META;
  put_attr(attrs, NFQA_CFG_PARAMS, params);
  put_attr(attrs, NFQA_CFG_QUEUE_MAXLEN, htonl(maxlen));
  put_attr(attrs, NFQA_CFG_MASK, htonl(NFQA_CFG_F_GSO));
  put_attr(attrs, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_GSO));
  return request(NFQNL_MSG_CONFIG, num, attrs);
}

int NfQueue::set_nonblocking() {
  int flags = ::fcntl(fd_, F_GETFL);
  if (flags < 0 || ::fcntl(fd_, F_SETFL, flags | O_NONBLOCK) < 0) return -errno;
  return 0;
}

int NfQueue::receive(std::vector<QueuedPacket>& out) {
  mmsghdr msgs[kBatch];
  iovec iov[kBatch];
  int added = 0;
  for (int round = 0; round < kMaxBatches; ++round) {
    for (int i = 0; i < kBatch; ++i) {
      iov[i] = {in_.data() + std::size_t(i) * kSlot, kSlot};
      msgs[i] = {};
      msgs[i].msg_hdr.msg_iov = &iov[i];
      msgs[i].msg_hdr.msg_iovlen = 1;
    }
    int n = ::recvmmsg(fd_, msgs, kBatch, MSG_DONTWAIT, nullptr);
    if (n < 0) return added > 0 ? added : -errno;
    for (int i = 0; i < n; ++i)
      added += parse(in_.data() + std::size_t(i) * kSlot, int(msgs[i].msg_len), out);
    if (n < kBatch) return added;  // drained: no second syscall just to hear EAGAIN
  }
  return added;  // more may be waiting: the caller lets the timers run first
}

int NfQueue::parse(const std::uint8_t* data, int len, std::vector<QueuedPacket>& out) {
  int added = 0;
  for (auto* h = reinterpret_cast<const nlmsghdr*>(data); NLMSG_OK(h, len);
       h = NLMSG_NEXT(h, len)) {
    if (h->nlmsg_type != ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) continue;
    const auto* gen = static_cast<const nfgenmsg*>(NLMSG_DATA(const_cast<nlmsghdr*>(h)));
    QueuedPacket pkt{ntohs(gen->res_id), 0, 0};
    bool have_id = false;
    const auto* base = reinterpret_cast<const std::uint8_t*>(gen) + NLMSG_ALIGN(sizeof *gen);
    const auto* end = reinterpret_cast<const std::uint8_t*>(h) + h->nlmsg_len;
    while (base + NLA_HDRLEN <= end) {
      nlattr attr;
      std::memcpy(&attr, base, sizeof attr);
      if (attr.nla_len < NLA_HDRLEN || base + attr.nla_len > end) break;
      const std::uint8_t* payload = base + NLA_HDRLEN;
      switch (attr.nla_type & NLA_TYPE_MASK) {
        case NFQA_PACKET_HDR: {
          nfqnl_msg_packet_hdr ph;
          std::memcpy(&ph, payload, sizeof ph);
          pkt.id = ntohl(ph.packet_id);
          have_id = true;
          break;
        }
        case NFQA_CAP_LEN: {
          std::uint32_t v;
          std::memcpy(&v, payload, sizeof v);
          pkt.bytes = ntohl(v);
          break;
        }
        default:
          break;
      }
      base += NLA_ALIGN(attr.nla_len);
    }
    if (have_id) {
      out.push_back(pkt);
      ++added;
    }
  }
  return added;
}

void NfQueue::verdict(std::uint16_t queue, std::uint32_t id, bool accept) {
  std::uint8_t attrs[NLA_ALIGN(NLA_HDRLEN + sizeof(nfqnl_msg_verdict_hdr))] = {};
  nlattr attr{};
  attr.nla_len = NLA_HDRLEN + sizeof(nfqnl_msg_verdict_hdr);
  attr.nla_type = NFQA_VERDICT_HDR;
  nfqnl_msg_verdict_hdr vh{};
  vh.verdict = htonl(accept ? NF_ACCEPT : NF_DROP);
  vh.id = htonl(id);
  std::memcpy(attrs, &attr, sizeof attr);
  std::memcpy(attrs + NLA_HDRLEN, &vh, sizeof vh);
  put_message(out_, NFQNL_MSG_VERDICT, 0, 0, queue, attrs, sizeof attrs);
  if (out_.size() >= kMaxPendingVerdictBytes) flush();
}

int NfQueue::flush() {
  if (out_.empty()) return 0;
  ssize_t n;
  do {
    n = ::send(fd_, out_.data(), out_.size(), 0);
  } while (n < 0 && errno == EINTR);
  out_.clear();
  return n < 0 ? -errno : 0;
}

}  // namespace ntm::linkemu
