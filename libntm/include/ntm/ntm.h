/*
 * ntm.h — the NTM node API: IP mobility and reachability in user space.
 *
 * A process links libntm, calls ntm_start() once, and then uses ntm_* socket calls exactly as
 * BSD sockets. Sockets live in a userspace TCP/IP stack (lwIP) whose packets travel in
 * encrypted UDP tunnels to other nodes; the node's virtual IP (vIP) stays the same while its
 * real address changes. One node per process.
 *
 * Conventions
 *  - Addresses and structures are the system's own: struct sockaddr_in / sockaddr_in6,
 *    struct pollfd, AF_INET / AF_INET6, SOCK_STREAM / SOCK_DGRAM / SOCK_RAW, MSG_*, SO_*,
 *    O_NONBLOCK. Ports and addresses inside sockaddrs are in network byte order.
 *  - Socket calls return -1 and set errno (the calling thread's errno, as libc does) on failure.
 *    ntm socket descriptors are NOT OS file descriptors: pass them only to ntm_* calls. To wait
 *    on ntm sockets together with OS descriptors, use ntm_event_fd().
 *  - Every call is thread-safe. Blocking calls block only the calling thread.
 *
 * Sections: 1. Node life cycle  2. Names and addresses  3. Sockets  4. Waiting  5. Statistics
 */
#ifndef NTM_NTM_H
#define NTM_NTM_H

#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ======================================================================================== */
/* 1. Node life cycle                                                                        */
/* ======================================================================================== */

/** Node configuration for ntm_start(). Strings are copied; the struct may be freed after. */
struct ntm_config {
  /** DC control endpoint, "host:port" or "[v6]:port" with a numeric address; or up to 8 of
   *  them separated by commas, the same DC at several addresses (e.g.
   *  "198.51.100.7:7100,[2001:db8::7]:7100"): each handshake try goes to the next one the host
   *  has a route to at that moment (so a node that moves to an IPv6-only network reaches the
   *  DC at its IPv6 address), and the session stays with the one that answered. Required. */
  const char* dc_address;
  /** The DC's static X25519 public key, 44-char base64 (`ntm-dc --print-public-key`). Required. */
  const char* dc_public_key;
  /** Node name: one DNS label (a-z, 0-9, '-', 1..63 chars); the FQDN becomes
   *  "<name>.<dc domain>". Required. */
  const char* node_name;
  /** Directory holding the node's static key ("node.key", created 0600 on first start).
   *  The key is the node's identity: the same key gets the same vIP. Required. */
  const char* state_dir;
  /** Local UDP address to bind, "ip:port"; NULL binds [::]:0 (dual stack, any port). */
  const char* bind_address;
  /** Milliseconds ntm_start() waits for the registration response (0 = 5000). */
  uint32_t start_timeout_ms;
  /** Keep-alive interval in milliseconds (0 = 15000): towards the DC (at most a third of the
   *  registration lifetime the DC grants), and on every tunnel that sent nothing during the
   *  last interval, to hold NAT bindings on the path (paper 002 Fig. 3 step 20). */
  uint32_t keepalive_interval_ms;
  /** Upper bound, in milliseconds, of ntm_stop()'s wait for closed TCP connections to
   *  deliver the data and FIN they still hold (0 = 60000). Within it ntm_stop() waits as
   *  long as they make progress: it gives up early once no byte has been acknowledged by a
   *  peer for 20 s (or for the whole bound, if that is shorter). */
  uint32_t stop_linger_ms;
  /** Tunnel rekeying (docs/protocol.md §7.8): the side that initiated a tunnel runs a new
   *  tunnel handshake when its keys are this many milliseconds old (0 = 120000), or when
   *  either direction has sealed `rekey_after_messages` packets under them (0 = 2^60).
   *  Traffic continues on the old keys until the new ones are confirmed. Keys older than
   *  1.5 x rekey_after_ms are never used: the tunnel is dropped (and negotiated anew). */
  uint32_t rekey_after_ms;
  uint64_t rekey_after_messages;
  /** A tunnel that received no authenticated packet for this many milliseconds is removed
   *  (0 = 4 x keepalive_interval_ms; peers send keep-alives on idle tunnels). */
  uint32_t tunnel_timeout_ms;
  /** Size of the node's socket table: ntm_socket() and ntm_accept() fail with ENFILE while
   *  this many ntm sockets are open (0 = 4096). */
  uint32_t max_sockets;
  /** Account at the DC's Account Server, and its password (docs/admin.md). Both NULL for a DC
   *  with open registration; a DC with an Account Server refuses nodes without them. They
   *  travel only encrypted (sealed to the DC, which asks the AS over its own sealed channel),
   *  and the library keeps them in memory while the node runs: it re-registers with them
   *  after a lost keep-alive. The account is 1..64 bytes, the password 8..256 bytes. */
  const char* account;
  const char* password;
};

/** Fills *cfg with defaults (all pointers NULL, all numbers 0). */
void ntm_config_init(struct ntm_config* cfg);

/**
 * Starts the node: loads or creates its key, runs the handshake with the DC (Noise IK against
 * the pinned key), registers (paper 002 Fig. 5 step 3), brings up the userspace stack with the
 * assigned vIPs, and returns once registered.
 * Returns 0, or -1 with errno:
 *   EINVAL     a required field is missing or malformed (bad address, key or name)
 *   EALREADY   a node is already running in this process
 *   ETIMEDOUT  the DC did not answer within start_timeout_ms
 *   EACCES     the DC requires an account and none was given, or the Account Server does
 *              not know the account or the password is wrong
 *   EDQUOT     the account already has as many other nodes as its node limit allows
 *   EAGAIN     the Account Server did not answer, or refused logins for now (too many
 *              failures for the account or this address): try again later
 *   ECONNREFUSED  the DC refused the registration for another reason (name taken, vIP pool
 *              exhausted, ...). ntm_last_error() gives the DC's text in every case.
 *   EIO        the state directory or key file cannot be used
 */
int ntm_start(const struct ntm_config* cfg);

/** Stops the node: closes every ntm socket, lets closed TCP connections deliver what they
 *  still hold (as a kernel would after close(2)) while they make progress, at most
 *  stop_linger_ms, then ends every tunnel and thread. Call it before exiting, and check its
 *  result: a userspace stack dies with its process, so whatever it could not deliver is
 *  lost. Must not race with other ntm_* calls on other threads.
 *  Returns 0 when every byte written to a TCP socket, and every end of stream, was
 *  acknowledged by its peer. Returns -1 with errno:
 *    ETIMEDOUT  some data or FIN was not acknowledged when the wait ended; ntm_last_error()
 *               says how much: "N bytes on K TCP connection(s) not acknowledged by the peer
 *               after T ms (no progress | linger limit)". The node is stopped all the same.
 *    ENOTCONN   no node is running.
 *  After it returns, ntm_start() may be called again. */
int ntm_stop(void);

/** This node's static public key (its identity), 44-char base64 + NUL, to buf: what a peer
 *  passes to ntm_pin_peer(). Returns 0, or -1 with errno ENOTCONN or ERANGE (len < 45). */
int ntm_get_node_key(char* buf, size_t len);

/**
 * Pins the static public key of a peer: from now on a tunnel to `name` (an FQDN, or a numeric
 * vIP) is set up only if the peer proves this key in the tunnel handshake, whatever the DC
 * says. ntm_getaddrinfo() of a pinned name whose DC answer names another key fails with
 * EKEYREJECTED, and route directions for it with another key are refused. `public_key` is
 * 44-char base64; NULL removes the pin. Pins last until ntm_stop().
 * Returns 0, or -1 with errno ENOTCONN, EINVAL (bad name or key).
 */
int ntm_pin_peer(const char* name, const char* public_key);

/**
 * The static public key of the peer behind vIP `addr` (as proven by the tunnel handshake),
 * 44-char base64 + NUL, to buf. For a connected socket pass its ntm_getpeername() address.
 * Returns 0, or -1 with errno ENOTCONN (node not started, or no tunnel to that vIP),
 * EINVAL (bad address), ERANGE (len < 45).
 */
int ntm_get_peer_key(const struct sockaddr* addr, socklen_t addrlen, char* buf, size_t len);

/** Human-readable reason for the last failure of ntm_start(), ntm_stop() or
 *  ntm_getaddrinfo() in this thread ("" when none). The pointer stays valid until the thread's
 *  next ntm_* call. */
const char* ntm_last_error(void);

/* ======================================================================================== */
/* 2. Names and addresses                                                                    */
/* ======================================================================================== */

/**
 * Writes this node's vIP for `family` (AF_INET or AF_INET6) to *addr (port 0).
 * Returns 0, or -1 with errno: ENOTCONN (not started), EAFNOSUPPORT (bad family or the DC
 * assigned no vIP of that family), EINVAL (addr NULL or *addrlen too small).
 */
int ntm_get_vip(int family, struct sockaddr* addr, socklen_t* addrlen);

/** This node's FQDN as the DC assigned it, copied to buf (NUL-terminated). Returns 0, or -1
 *  with errno ENOTCONN or ERANGE (buf too small). */
int ntm_get_fqdn(char* buf, size_t len);

/**
 * Resolves an NTM FQDN to its vIP through the DC (direction request, paper 002 Fig. 3 steps
 * 1-2) and starts the tunnel towards it, so that a following ntm_connect() or ntm_sendto()
 * finds the tunnel ready or being negotiated. A numeric vIP resolves to itself and also
 * starts the tunnel. `family` is AF_INET, AF_INET6 or AF_UNSPEC (IPv4 first).
 * On success writes the vIP (port = `port`, host order argument) to *addr and returns 0.
 * Returns -1 with errno:
 *   ENOTCONN   node not started
 *   ENOENT     the DC knows no node with that FQDN (ntm_last_error() says so)
 *   EAFNOSUPPORT  the peer has no vIP of the requested family
 *   EHOSTUNREACH  the DC cannot direct a tunnel between the two nodes (both behind NAT)
 *   EKEYREJECTED  the peer's key (as the DC states it) is not the one pinned for `name`
 *   EAGAIN     the DC rate-limited this node's direction requests; try again later
 *   ETIMEDOUT  the DC did not answer
 *   EINVAL     name NULL or too long, or *addrlen too small
 */
int ntm_getaddrinfo(const char* name, int family, uint16_t port, struct sockaddr* addr,
                    socklen_t* addrlen);

/**
 * Blocks until the tunnel towards vIP `addr` is established (tunnel response received or
 * sent), or `timeout_ms` passes. Returns 0, or -1 with errno ETIMEDOUT, ENOTCONN, EINVAL.
 * Not needed before sending (packets queue while the tunnel is negotiated); useful to measure.
 */
int ntm_wait_tunnel(const struct sockaddr* addr, socklen_t addrlen, int timeout_ms);

/** Path kinds (ntm_get_path): how a tunnel reaches its peer right now (docs/protocol.md §7.9). */
#define NTM_PATH_LAN 1     /**< the peer's private address, on a LAN both nodes share */
#define NTM_PATH_DIRECT 2  /**< straight to the peer; no NAT on at least one side */
#define NTM_PATH_PUNCHED 3 /**< straight through both sides' NATs (a hole punch) */
#define NTM_PATH_RELAYED 4 /**< through a relay server (ntm-rs) */

/** Where a tunnel's packets go (ntm_get_path). */
struct ntm_path_info {
  int kind;                        /**< NTM_PATH_* */
  struct sockaddr_storage address; /**< the peer's UDP endpoint, or the relay server's */
  socklen_t address_len;
};

/**
 * The path the tunnel to vIP `addr` uses now. Tunnels start on the first path that gets
 * through (a relayed one when punching is uncertain) and move to a better one (LAN, then
 * direct or punched) as soon as a probe through it succeeds; the application does not notice.
 * Returns 0, or -1 with errno ENOTCONN (node not started, or no tunnel to that vIP), EINVAL.
 */
int ntm_get_path(const struct sockaddr* addr, socklen_t addrlen, struct ntm_path_info* info);

/* ======================================================================================== */
/* 3. Sockets — BSD semantics, over the vIPs                                                 */
/* ======================================================================================== */

/** socket(2): AF_INET or AF_INET6; SOCK_STREAM, SOCK_DGRAM, or SOCK_RAW with IPPROTO_ICMP /
 *  IPPROTO_ICMPV6. Errors: ENOTCONN (node not started), EAFNOSUPPORT, EPROTONOSUPPORT,
 *  ENFILE (socket table full), ENOMEM. */
int ntm_socket(int domain, int type, int protocol);
/** bind(2). Errors: EBADF, EINVAL, EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT. */
int ntm_bind(int fd, const struct sockaddr* addr, socklen_t addrlen);
/** listen(2). Errors: EBADF, EOPNOTSUPP (not a stream socket), ENOMEM. */
int ntm_listen(int fd, int backlog);
/** accept(2); writes the peer's vIP and port. Errors: EBADF, EINVAL (not listening),
 *  EWOULDBLOCK (non-blocking, none pending), ECONNABORTED, ENFILE. */
int ntm_accept(int fd, struct sockaddr* addr, socklen_t* addrlen);
/** connect(2) to a vIP. Errors: EBADF, EINPROGRESS (non-blocking), ECONNREFUSED, ETIMEDOUT,
 *  EHOSTUNREACH, EISCONN, EALREADY, EAFNOSUPPORT. */
int ntm_connect(int fd, const struct sockaddr* addr, socklen_t addrlen);
/** send(2). A UDP datagram carries up to 65,507 bytes on an AF_INET socket and 65,487 on
 *  an AF_INET6 one (lwIP's IPv6 packets hold 65,535 bytes with their header); the tunnel
 *  carries it in fragments, reassembled by the receiving node. Larger: EMSGSIZE, nothing
 *  sent. Errors: EBADF, ENOTCONN, EWOULDBLOCK, EPIPE/ECONNRESET, EMSGSIZE, ENOMEM. */
ssize_t ntm_send(int fd, const void* buf, size_t len, int flags);
/** recv(2); returns 0 at end of stream. Errors: EBADF, ENOTCONN, EWOULDBLOCK, ECONNRESET. */
ssize_t ntm_recv(int fd, void* buf, size_t len, int flags);
/** sendto(2). Errors as ntm_send, plus EDESTADDRREQ, EAFNOSUPPORT. */
ssize_t ntm_sendto(int fd, const void* buf, size_t len, int flags, const struct sockaddr* addr,
                   socklen_t addrlen);
/** recvfrom(2). Errors as ntm_recv. */
ssize_t ntm_recvfrom(int fd, void* buf, size_t len, int flags, struct sockaddr* addr,
                     socklen_t* addrlen);
/** shutdown(2) with SHUT_RD, SHUT_WR or SHUT_RDWR. Errors: EBADF, ENOTCONN, EINVAL. */
int ntm_shutdown(int fd, int how);
/** close(2). Errors: EBADF. */
int ntm_close(int fd);
/** setsockopt(2): SOL_SOCKET (SO_REUSEADDR, SO_KEEPALIVE, SO_RCVTIMEO, SO_SNDTIMEO, SO_RCVBUF,
 *  SO_LINGER, SO_BROADCAST), IPPROTO_TCP (TCP_NODELAY, TCP_KEEPIDLE, TCP_KEEPINTVL,
 *  TCP_KEEPCNT), IPPROTO_IP (IP_TOS, IP_TTL). Errors: EBADF, ENOPROTOOPT, EINVAL, EFAULT. */
int ntm_setsockopt(int fd, int level, int optname, const void* optval, socklen_t optlen);
/** getsockopt(2): the options above plus SO_ERROR, SO_TYPE, SO_ACCEPTCONN.
 *  Errors: EBADF, ENOPROTOOPT, EINVAL, EFAULT. */
int ntm_getsockopt(int fd, int level, int optname, void* optval, socklen_t* optlen);
/** fcntl(2) with F_GETFL / F_SETFL (O_NONBLOCK only). Errors: EBADF, EINVAL (other cmd). */
int ntm_fcntl(int fd, int cmd, int flags);
/** getsockname(2). Errors: EBADF, EINVAL. */
int ntm_getsockname(int fd, struct sockaddr* addr, socklen_t* addrlen);
/** getpeername(2). Errors: EBADF, ENOTCONN, EINVAL. */
int ntm_getpeername(int fd, struct sockaddr* addr, socklen_t* addrlen);

/* ======================================================================================== */
/* 4. Waiting                                                                                */
/* ======================================================================================== */

/** poll(2) over ntm sockets only (fds[i].fd are ntm descriptors); timeout in ms, -1 = forever.
 *  Errors: EBADF... reported per entry as POLLNVAL; -1 with EINVAL, ENOMEM, ENOTCONN. */
int ntm_poll(struct pollfd* fds, nfds_t nfds, int timeout_ms);

/**
 * An OS file descriptor (an eventfd) that becomes readable whenever any ntm socket may have
 * changed state (data arrived, send space freed, connection accepted/established/closed,
 * error). Put it in your own poll/epoll/select set beside OS descriptors; when it is
 * readable, call ntm_event_clear() and then check your ntm sockets with ntm_poll(..., 0) or
 * non-blocking calls. Clearing before checking means no event can be missed. The descriptor
 * is owned by the node: do not close it; it stays valid until ntm_stop().
 * Returns the descriptor, or -1 with errno ENOTCONN.
 */
int ntm_event_fd(void);
/** Resets ntm_event_fd() to not-readable. Returns 0, or -1 with errno ENOTCONN. */
int ntm_event_clear(void);

/* ======================================================================================== */
/* 5. Statistics                                                                             */
/* ======================================================================================== */

/** Counters of the node's packet path since ntm_start(). A datagram the node receives is a
 *  data packet accepted (rx_packets), a control datagram handed to the negotiation module, or
 *  a drop counted under exactly one reason: drop_malformed, drop_unknown_tunnel, drop_auth,
 *  drop_replay, drop_too_old, drop_spoofed or drop_control. drop_no_tunnel counts outbound
 *  inner packets. An accepted fragment of an inner datagram that cannot be reassembled is
 *  counted once more, in drop_reassembly. */
struct ntm_stats {
  uint64_t tx_packets, tx_bytes;  /**< data packets sealed and sent (outer bytes), keep-alives
                                       and tunnel messages included */
  uint64_t rx_packets, rx_bytes;  /**< data packets authenticated and accepted (outer bytes) */
  uint64_t drop_malformed;        /**< too short, bad header, unknown packet type */
  uint64_t drop_unknown_tunnel;   /**< receiver tunnel ID not in the tunnel table */
  uint64_t drop_auth;             /**< AEAD authentication failed (tampered, wrong key) */
  uint64_t drop_replay;           /**< counter already seen */
  uint64_t drop_too_old;          /**< counter behind the replay window */
  uint64_t drop_spoofed;          /**< inner source address is not the tunnel peer's vIP */
  uint64_t drop_no_tunnel;        /**< outbound packet dropped: pending queue full or
                                       tunnel negotiation failed */
  uint64_t drop_control;          /**< control/handshake datagrams dropped */
  uint64_t drop_reassembly;       /**< accepted inner IP fragments discarded because their
                                       datagram could not be reassembled: a fragment missing
                                       5 s after the first, overlapping fragments, more than
                                       64 datagrams in progress, or over 65,535 bytes */
  uint64_t tx_keepalives;         /**< of tx_packets, keep-alives (empty data packets sent on
                                       a tunnel idle for a keep-alive interval, and one to
                                       confirm each tunnel this node initiated) */
  uint64_t tunnels_established;   /**< tunnels installed since start */
  uint64_t roams;                 /**< peer endpoint moved by an authenticated, newest packet */
  uint64_t drop_overload;         /**< control datagram dropped: the negotiation thread's queue
                                       (1024) was full */
  uint64_t drop_unvalidated_path; /**< outbound packet not sent: over 3x the bytes received
                                       from a peer address not yet validated */
  uint64_t path_challenges;       /**< path challenges sent to a peer's new address */
  uint64_t paths_validated;       /**< peer addresses validated by a path response */
  uint64_t rekeys;                /**< tunnel rekeys completed */
  uint64_t tunnels_expired;       /**< tunnels removed: no authenticated packet for
                                       tunnel_timeout_ms, or keys too old */
  uint64_t tunnels_refused;       /**< route directions refused, or negotiations removed,
                                       because a live tunnel or a pin names another peer key */
  /* How the node's TCP repaired lost segments, over all its connections (zero when libntm
   * is built with the packaged lwIP, which lacks NTM's TCP patches): */
  uint64_t tcp_rexmit_recovery; /**< segments retransmitted by SACK loss recovery (RFC 6675,
                                     RACK RFC 8985 §6; duplicate ACKs without SACK) */
  uint64_t tcp_rexmit_tlp;      /**< tail loss probes that retransmitted a segment (RFC 8985 §7) */
  uint64_t tcp_rexmit_rto;      /**< segments retransmitted after a retransmission timeout */
  uint64_t tcp_rto_events;      /**< retransmission timeouts (RFC 6298) */
  uint64_t drop_relay;          /**< relay datagrams not from the relay server of one of our
                                     relay sessions, or carrying no tunnel packet */
  uint64_t tx_relayed;          /**< of tx_packets, sent through a relay server */
  uint64_t path_switches;       /**< tunnels moved to another path (a better one, or away
                                     from one that stopped answering) */
  uint64_t relay_binds;         /**< binds sent to relay servers (setup and refresh) */
  uint64_t punches_sent;        /**< hole punches sent towards peers */
  uint64_t punches_received;    /**< hole punches from peers that authenticated */
  /* Gauges: what the node holds at the moment of the call, not counts since ntm_start().
   * After the traffic settles, a node with P peers holds P tunnels and P negotiations; more
   * for a while is normal (a replaced keypair still accepts packets in flight for 10 s, a
   * negotiation in progress), more for good is a leak. */
  uint64_t tunnels_open;        /**< keypairs in the tunnel table: each peer's current one,
                                     replaced ones in their 10 s grace period, and a
                                     responder's keypair the peer has not confirmed yet */
  uint64_t negotiations_open;   /**< tunnel negotiations held (established or in progress) */
  uint64_t relay_sessions_open; /**< relay sessions the node's tunnels use */
  uint64_t sockets_open;        /**< ntm sockets open (ntm_socket/ntm_accept not yet closed) */
};

/** Copies the counters. Returns 0, or -1 with errno ENOTCONN (no node has run in this
 *  process) or EINVAL (stats NULL). Between ntm_stop() and the next ntm_start() it copies the
 *  stopped node's final counters, taken when ntm_stop()'s linger ended — so they count the data
 *  that left while ntm_stop() waited — with every gauge (*_open) 0. */
int ntm_get_stats(struct ntm_stats* stats);

#ifdef __cplusplus
}
#endif

#endif /* NTM_NTM_H */
