/*
 * A C application embedding libntm, built by tests/consumer/consumer.sh three ways
 * (add_subdirectory, find_package, pkg-config). It is a tiny netcat over ntm sockets:
 *
 *   NTM_DC=ip:port NTM_DC_KEY=base64 NTM_NAME=name NTM_STATE_DIR=dir [NTM_BIND=ip:port] \
 *     app FQDN PORT < to-send > received
 *
 * starts a node, connects to FQDN:PORT (TCP over the vIPs), sends all of stdin while it
 * writes everything it receives to stdout, half-closes after the last byte, and exits 0 when
 * the peer has closed its side too. Exit 1 with a message on stderr on any failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <ntm/ntm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { kWaitMs = 30000, kMaxInput = 16 << 20 };

static int fail(const char* what) {
  fprintf(stderr, "app: %s: %s (%s)\n", what, strerror(errno), ntm_last_error());
  return 1;
}

static const char* env(const char* name) {
  const char* v = getenv(name);
  if (!v || !*v) {
    fprintf(stderr, "app: %s is not set\n", name);
    exit(1);
  }
  return v;
}

/* Reads all of stdin (at most kMaxInput bytes) into a malloc'd buffer; NULL on failure. */
static char* read_stdin(size_t* len) {
  size_t cap = 1 << 16;
  char* buf = malloc(cap);
  *len = 0;
  while (buf) {
    if (*len == cap) {
      char* bigger = cap < kMaxInput ? realloc(buf, cap *= 2) : NULL;
      if (!bigger) break;
      buf = bigger;
    }
    ssize_t n = read(0, buf + *len, cap - *len);
    if (n == 0) return buf;
    if (n > 0)
      *len += (size_t)n;
    else if (errno != EINTR)
      break;
  }
  free(buf);
  return NULL;
}

/* Sends out[0..len), half-closing after the last byte, while it copies what arrives to
 * stdout; returns 0 once both directions are finished (all sent, the peer's FIN seen). */
static int exchange(int s, const char* out, size_t len) {
  static char in[1 << 16];
  size_t sent = 0;
  int peer_done = 0;
  if (len == 0 && ntm_shutdown(s, SHUT_WR) != 0) return fail("shutdown");
  while (sent < len || !peer_done) {
    struct pollfd p = {s, 0, 0};
    if (sent < len) p.events |= POLLOUT;
    if (!peer_done) p.events |= POLLIN;
    int r = ntm_poll(&p, 1, kWaitMs);
    if (r <= 0) {
      if (r == 0) errno = ETIMEDOUT;
      return fail("ntm_poll");
    }
    if (p.revents & POLLOUT) {
      ssize_t n = ntm_send(s, out + sent, len - sent, 0);
      if (n < 0 && errno != EWOULDBLOCK && errno != EAGAIN) return fail("ntm_send");
      if (n > 0) {
        sent += (size_t)n;
        if (sent == len && ntm_shutdown(s, SHUT_WR) != 0) return fail("ntm_shutdown");
      }
    }
    if (!peer_done && (p.revents & (POLLIN | POLLHUP | POLLERR))) {
      ssize_t n = ntm_recv(s, in, sizeof in, 0);
      if (n < 0 && errno != EWOULDBLOCK && errno != EAGAIN) return fail("ntm_recv");
      if (n == 0) peer_done = 1;
      if (n > 0 && fwrite(in, 1, (size_t)n, stdout) != (size_t)n) return fail("stdout");
    }
  }
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: app FQDN PORT < to-send > received (node settings: NTM_* env)\n");
    return 2;
  }
  size_t len;
  char* out = read_stdin(&len);
  if (!out) return fail("stdin");

  struct ntm_config cfg;
  ntm_config_init(&cfg);
  cfg.dc_address = env("NTM_DC");
  cfg.dc_public_key = env("NTM_DC_KEY");
  cfg.node_name = env("NTM_NAME");
  cfg.state_dir = env("NTM_STATE_DIR");
  cfg.bind_address = getenv("NTM_BIND");
  if (ntm_start(&cfg) != 0) return fail("ntm_start");

  struct sockaddr_storage peer;
  socklen_t peer_len = sizeof peer;
  int rc = 1;
  if (ntm_getaddrinfo(argv[1], AF_INET, (uint16_t)atoi(argv[2]), (struct sockaddr*)&peer,
                      &peer_len) != 0) {
    fail("ntm_getaddrinfo");
  } else {
    int s = ntm_socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0) {
      fail("ntm_socket");
    } else if (ntm_connect(s, (struct sockaddr*)&peer, peer_len) != 0) {
      fail("ntm_connect");
    } else if (ntm_fcntl(s, F_SETFL, O_NONBLOCK) != 0) {
      fail("ntm_fcntl");
    } else {
      rc = exchange(s, out, len);
    }
    if (s >= 0) ntm_close(s);
  }
  free(out);
  if (fflush(stdout) != 0) rc = fail("stdout");
  if (ntm_stop() != 0 && rc == 0) rc = fail("ntm_stop");
  return rc;
}
