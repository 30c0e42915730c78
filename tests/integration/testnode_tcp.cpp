// ntm-testnode's TCP commands: echo server and verifying client, with blocking calls and a
// thread per connection, or (--poll) non-blocking sockets and ntm_poll in one thread for
// many connections at once; and the ntm_event_fd() client.
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <vector>

#include "ntm/ntm.h"
#include "testnode.h"

namespace ntm::testnode {
namespace {

using Clock = std::chrono::steady_clock;
/// A poll loop that sees no progress for this long gives up (and fails).
constexpr auto kStall = std::chrono::seconds(30);

int listen_socket(int conns) {
  uint16_t port = uint16_t(std::atoi(g_pos.at(1).c_str()));
  int s = ntm_socket(family(), SOCK_STREAM, 0);
  sockaddr_storage a;
  socklen_t len = make_addr(a, family(), port);
  if (s < 0 || ntm_bind(s, reinterpret_cast<sockaddr*>(&a), len) != 0 ||
      ntm_listen(s, conns) != 0) {
    std::printf("fail reason=bind errno=%s\n", errno_name(errno));
    return -1;
  }
  std::printf("ready\n");
  std::fflush(stdout);
  return s;
}

/// One echo connection of the poll loop: what came in and is still to go back.
struct EchoConn {
  int fd;
  std::vector<uint8_t> out;
  size_t out_off = 0;
  bool eof = false;
};

int serve_poll(int s, int conns) {
  ntm_fcntl(s, F_SETFL, O_NONBLOCK);
  std::vector<EchoConn> open;
  int accepted = 0, finished = 0;
  long total = 0;
  std::vector<uint8_t> buf(65536);
  auto progress = Clock::now();
  while (finished < conns && Clock::now() - progress < kStall) {
    std::vector<pollfd> fds;
    fds.push_back({s, short(accepted < conns ? POLLIN : 0), 0});
    for (auto& c : open)
      fds.push_back({c.fd, short(POLLIN | (c.out_off < c.out.size() ? POLLOUT : 0)), 0});
    if (ntm_poll(fds.data(), fds.size(), 1000) <= 0) continue;
    progress = Clock::now();
    const size_t polled = open.size();  // connections accepted below wait for the next poll
    if (fds[0].revents & POLLIN) {
      for (int c; accepted < conns && (c = ntm_accept(s, nullptr, nullptr)) >= 0; ++accepted) {
        ntm_fcntl(c, F_SETFL, O_NONBLOCK);
        open.push_back({c, {}, 0, false});
      }
    }
    for (size_t i = 0; i < open.size(); ++i) {
      EchoConn& c = open[i];
      short ev = i < polled ? fds[i + 1].revents : 0;
      if (ev & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ntm_recv(c.fd, buf.data(), buf.size(), 0);
        if (n > 0) {
          c.out.insert(c.out.end(), buf.begin(), buf.begin() + n);
          total += n;
        } else if (n == 0 || errno != EWOULDBLOCK) {
          c.eof = true;
        }
      }
      if (c.out_off < c.out.size()) {
        ssize_t n = ntm_send(c.fd, c.out.data() + c.out_off, c.out.size() - c.out_off, 0);
        if (n > 0) c.out_off += size_t(n);
        if (c.out_off == c.out.size()) c.out.clear(), c.out_off = 0;
      }
    }
    for (size_t i = 0; i < open.size();) {
      if (open[i].eof && open[i].out.empty()) {
        ntm_close(open[i].fd);
        open.erase(open.begin() + std::ptrdiff_t(i));
        ++finished;
      } else {
        ++i;
      }
    }
  }
  std::printf("served conns=%d bytes=%ld\n", finished, total);
  return finished == conns ? 0 : 1;
}

int serve_threads(int s, int conns) {
  std::vector<std::thread> workers;
  std::atomic<long> total{0};
  for (int i = 0; i < conns; ++i) {
    int c = ntm_accept(s, nullptr, nullptr);
    if (c < 0) break;
    workers.emplace_back([c, &total] {
      std::vector<uint8_t> buf(65536);
      for (;;) {
        ssize_t n = ntm_recv(c, buf.data(), buf.size(), 0);
        if (n <= 0) break;
        if (!send_all(c, buf.data(), size_t(n))) break;
        total += n;
      }
      ntm_close(c);
    });
  }
  for (auto& w : workers) w.join();
  std::printf("served conns=%zu bytes=%ld\n", workers.size(), total.load());
  return int(workers.size()) == conns ? 0 : 1;
}

/// A peer's vIP and port.
struct Peer {
  sockaddr_storage addr;
  socklen_t len;
};

/// One client connection of the poll loop.
struct ClientConn {
  const Peer* peer = nullptr;
  int fd = -1;
  size_t sent = 0, got = 0;
  bool connected = false, shut = false, done = false, ok = true;
};

/// --poll: every connection in one thread; at most kConnecting handshakes at a time, so the
/// server's accept queue (128 in the packaged lwIP) never overflows.
int client_poll(const std::vector<Peer>& peers, int conns, size_t bytes,
                const std::string& marker) {
  constexpr int kConnecting = 64;
  std::vector<ClientConn> cs(static_cast<size_t>(conns));
  for (size_t i = 0; i < cs.size(); ++i) cs[i].peer = &peers[i % peers.size()];
  std::vector<uint8_t> buf(65536), out(16384);
  int started = 0, connecting = 0, done = 0, failures = 0;
  auto progress = Clock::now();
  while (done < conns && Clock::now() - progress < kStall) {
    while (started < conns && connecting < kConnecting) {
      ClientConn& c = cs[size_t(started)];
      c.fd = ntm_socket(family(), SOCK_STREAM, 0);
      if (c.fd < 0) {
        std::fprintf(stderr, "conn %d: socket: %s\n", started, std::strerror(errno));
        return 1;
      }
      ntm_fcntl(c.fd, F_SETFL, O_NONBLOCK);
      if (ntm_connect(c.fd, reinterpret_cast<const sockaddr*>(&c.peer->addr), c.peer->len) != 0 &&
          errno != EINPROGRESS) {
        std::fprintf(stderr, "conn %d: connect: %s\n", started, std::strerror(errno));
        return 1;
      }
      ++started, ++connecting;
    }
    std::vector<pollfd> fds;
    std::vector<int> idx;
    for (int i = 0; i < started; ++i) {
      ClientConn& c = cs[size_t(i)];
      if (c.done) continue;
      fds.push_back({c.fd, short(POLLIN | (!c.connected || c.sent < bytes ? POLLOUT : 0)), 0});
      idx.push_back(i);
    }
    if (ntm_poll(fds.data(), fds.size(), 1000) <= 0) continue;
    progress = Clock::now();
    for (size_t k = 0; k < fds.size(); ++k) {
      ClientConn& c = cs[size_t(idx[k])];
      short ev = fds[k].revents;
      if (!ev) continue;
      if (!c.connected && (ev & (POLLOUT | POLLERR | POLLHUP))) {
        int err = 0;
        socklen_t elen = sizeof err;
        ntm_getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &elen);
        if (err) {
          std::fprintf(stderr, "conn %d: connect: %s\n", idx[k], std::strerror(err));
          c.ok = false, c.done = true, ++done, --connecting;
          continue;
        }
        c.connected = true, --connecting;
      }
      while (c.connected && c.sent < bytes) {
        size_t n = std::min(out.size(), bytes - c.sent);
        for (size_t i = 0; i < n; ++i) out[i] = pattern(idx[k], c.sent + i, marker);
        ssize_t w = ntm_send(c.fd, out.data(), n, 0);
        if (w <= 0) break;
        c.sent += size_t(w);
      }
      if (c.connected && c.sent == bytes && !c.shut) c.shut = ntm_shutdown(c.fd, SHUT_WR) == 0;
      if (ev & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ntm_recv(c.fd, buf.data(), buf.size(), 0);
        if (n > 0) {
          for (ssize_t i = 0; i < n && c.ok; ++i)
            if (buf[size_t(i)] != pattern(idx[k], c.got + size_t(i), marker)) c.ok = false;
          c.got += size_t(n);
        } else if (n == 0 || errno != EWOULDBLOCK) {
          if (c.got != bytes || !c.ok) {
            std::fprintf(stderr, "conn %d: echoed %zu of %zu bytes (sent %zu, %s), content %s\n",
                         idx[k], c.got, bytes, c.sent,
                         n == 0 ? "end of stream" : std::strerror(errno), c.ok ? "ok" : "CORRUPT");
            c.ok = false;
          }
          c.done = true, ++done;
        }
      }
    }
  }
  for (auto& c : cs) {
    if (!c.done || !c.ok) ++failures;
    if (c.fd >= 0) ntm_close(c.fd);
  }
  return failures;
}

int client_threads(const sockaddr_storage& peer, socklen_t plen, int conns, size_t bytes,
                   const std::string& marker) {
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int c = 0; c < conns; ++c) {
    threads.emplace_back([&, c] {
      int s = ntm_socket(family(), SOCK_STREAM, 0);
      if (s < 0 || ntm_connect(s, reinterpret_cast<const sockaddr*>(&peer), plen) != 0) {
        std::fprintf(stderr, "conn %d: connect: %s\n", c, std::strerror(errno));
        ++failures;
        return;
      }
      std::atomic<size_t> got{0};
      std::atomic<bool> reading{true};
      std::thread writer([&, s, c] {
        std::vector<uint8_t> buf(16384);
        long pause = num("pause-ms", 0);
        bool hold = flag("pause-until-stdin");
        for (size_t off = 0; off < bytes;) {
          if (pause > 0 && off >= bytes / 2) {  // --pause-ms: stop halfway, once
            std::printf("paused conn=%d\n", c);
            std::fflush(stdout);
            std::this_thread::sleep_for(std::chrono::milliseconds(pause));
            pause = 0;
          }
          if (hold && off >= bytes / 2) {  // --pause-until-stdin: halfway, once
            // The connection is idle: every byte sent so far came back (or the reader ended).
            while (reading && got < off) std::this_thread::sleep_for(std::chrono::milliseconds(5));
            std::printf("paused conn=%d\n", c);
            std::fflush(stdout);
            char line[64];
            [[maybe_unused]] char* resumed = std::fgets(line, sizeof line, stdin);  // or EOF
            hold = false;
          }
          size_t n = std::min(buf.size(), bytes - off);
          for (size_t i = 0; i < n; ++i) buf[i] = pattern(c, off + i, marker);
          if (!send_all(s, buf.data(), n)) break;
          off += n;
        }
        ntm_shutdown(s, SHUT_WR);
      });
      std::vector<uint8_t> in(65536);
      bool ok = true;
      for (;;) {
        ssize_t n = ntm_recv(s, in.data(), in.size(), 0);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n && ok; ++i)
          if (in[size_t(i)] != pattern(c, got + size_t(i), marker)) ok = false;
        got += size_t(n);
      }
      reading = false;
      writer.join();
      ntm_close(s);
      if (!ok || got != bytes) {
        std::fprintf(stderr, "conn %d: echoed %zu of %zu bytes, content %s\n", c, got.load(), bytes,
                     ok ? "ok" : "CORRUPT");
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  return failures;
}

}  // namespace

int cmd_serve_tcp() {
  int conns = int(num("conns", 1));
  int s = listen_socket(conns);
  if (s < 0) return 1;
  int rc = flag("poll") ? serve_poll(s, conns) : serve_threads(s, conns);
  print_stats();
  hold();
  ntm_close(s);
  return rc;
}

int cmd_client_tcp() {
  uint16_t port = uint16_t(std::atoi(g_pos.at(2).c_str()));
  int conns = int(num("conns", 1));
  size_t bytes = size_t(num("bytes", 100000));
  std::string marker = opt("marker", "");
  // NAME may be a comma-separated list: the connections go to the peers in turn.
  std::vector<Peer> peers;
  std::string names = g_pos.at(1);
  for (size_t at = 0; at <= names.size();) {
    size_t comma = std::min(names.find(',', at), names.size());
    peers.push_back({});
    if (!resolve(names.substr(at, comma - at), port, peers.back().addr, peers.back().len)) return 1;
    at = comma + 1;
  }
  int failures;
  if (flag("poll")) {
    // Many handshakes at once would overflow the queue of packets waiting for a tunnel.
    for (auto& p : peers)
      if (ntm_wait_tunnel(reinterpret_cast<sockaddr*>(&p.addr), p.len, 10000) != 0) {
        std::printf("fail reason=no-tunnel\n");
        return 1;
      }
    failures = client_poll(peers, conns, bytes, marker);
  } else {
    failures = client_threads(peers[0].addr, peers[0].len, conns, bytes, marker);
  }
  if (failures) {
    std::printf("fail reason=echo failures=%d\n", failures);
    print_stats();
    return 1;
  }
  char peer_key[64] = "-";
  ntm_get_peer_key(reinterpret_cast<sockaddr*>(&peers[0].addr), peers[0].len, peer_key,
                   sizeof peer_key);
  std::printf("ok conns=%d bytes=%zu peer_key=%s\n", conns, bytes, peer_key);
  print_stats();
  if (long idle = num("idle-ms", 0); idle > 0) {  // stay up, idle, then count again
    for (long i = 0; i < num("samples", 1); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(idle));
      print_stats();
    }
  }
  hold();
  return 0;
}

int cmd_eventfd_client() {
  std::string name = g_pos.at(1);
  uint16_t port = uint16_t(std::atoi(g_pos.at(2).c_str()));
  sockaddr_storage peer;
  socklen_t plen;
  if (!resolve(name, port, peer, plen)) return 1;
  int efd = ntm_event_fd();
  int s = ntm_socket(family(), SOCK_STREAM, 0);
  ntm_fcntl(s, F_SETFL, O_NONBLOCK);
  if (ntm_connect(s, reinterpret_cast<sockaddr*>(&peer), plen) == 0 || errno != EINPROGRESS) {
    std::printf("fail reason=connect-not-inprogress errno=%d\n", errno);
    return 1;
  }
  // An OS pipe in the same poll set proves ntm events and OS events wait together; it is
  // written once the connection is up, so the loop must see both kinds.
  int pipefd[2];
  if (pipe(pipefd) != 0) return 1;
  const size_t total = 65536;
  size_t sent = 0, got = 0;
  bool connected = false, saw_pipe = false, poked = false;
  std::vector<uint8_t> in(8192), out(total);
  for (size_t i = 0; i < total; ++i) out[i] = pattern(7, i, "");
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while ((got < total || !saw_pipe) && Clock::now() < deadline) {
    ntm_event_clear();
    // Drain everything ready now, then sleep in poll() on the two OS descriptors.
    pollfd np{s, short(POLLIN | (sent < total ? POLLOUT : 0)), 0};
    if (ntm_poll(&np, 1, 0) > 0) {
      if (np.revents & POLLOUT) {
        connected = true;
        if (!poked) poked = ::write(pipefd[1], "x", 1) == 1;
        ssize_t n = ntm_send(s, out.data() + sent, total - sent, 0);
        if (n > 0) sent += size_t(n);
      }
      if (np.revents & POLLIN) {
        ssize_t n = ntm_recv(s, in.data(), in.size(), 0);
        if (n > 0) {
          for (ssize_t i = 0; i < n; ++i)
            if (in[size_t(i)] != out[got + size_t(i)]) {
              std::printf("fail reason=corrupt\n");
              return 1;
            }
          got += size_t(n);
        } else if (n == 0) {
          break;
        }
      }
      continue;
    }
    pollfd fds[2] = {{efd, POLLIN, 0}, {pipefd[0], POLLIN, 0}};
    if (::poll(fds, 2, 10000) <= 0) {
      std::printf("fail reason=poll-timeout got=%zu sent=%zu\n", got, sent);
      return 1;
    }
    if (fds[1].revents & POLLIN) {
      char c;
      [[maybe_unused]] auto r = ::read(pipefd[0], &c, 1);
      saw_pipe = true;
    }
  }
  ntm_close(s);
  close(pipefd[0]);
  close(pipefd[1]);
  if (got != total || !connected || !saw_pipe) {
    std::printf("fail reason=incomplete got=%zu connected=%d pipe=%d\n", got, connected, saw_pipe);
    return 1;
  }
  std::printf("ok bytes=%zu\n", got);
  return 0;
}

}  // namespace ntm::testnode
