/*
 * One lwIP stack of the deterministic TCP tests, behind a table of functions.
 *
 * lwIP keeps its state in globals, so two stacks cannot share one copy of it. The build
 * compiles lwIP together with stack.c, links the objects into one relocatable object
 * (ld -r) and makes every symbol local except the entry point, which it renames: twice,
 * to tcpt_stack_a() and tcpt_stack_b(). A test links both and gets two independent
 * stacks in one process, each with its own globals, driven by one virtual clock and joined
 * by the test's in-memory link (link.h). One TCP connection per stack.
 */
#ifndef NTM_TCPTEST_STACK_H
#define NTM_TCPTEST_STACK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** What the test provides to a stack. */
struct tcpt_host {
  void* ctx;
  /** The virtual clock, microseconds. */
  uint64_t (*now_us)(void* ctx);
  /** An IPv4 packet leaves the stack (copied by the callee). */
  void (*output)(void* ctx, const uint8_t* packet, size_t len);
};

/** The connection's sender state and counters, read after or during a transfer. */
struct tcpt_info {
  int state;               /**< lwIP enum tcp_state; -1 when there is no connection */
  uint32_t cwnd, ssthresh; /**< bytes */
  uint32_t snd_una, snd_nxt, rcv_nxt;
  uint32_t unacked_bytes; /**< sequence space sent and not yet acknowledged */
  uint32_t srtt_us, rto_ms;
  /* Loss repair by the patched sender (0 on an unpatched lwIP). */
  uint32_t rexmit_recovery; /**< segments retransmitted by SACK loss recovery (RFC 6675/8985) */
  uint32_t rexmit_tlp;      /**< tail loss probes that retransmitted a segment (RFC 8985 §7) */
  uint32_t probe_tlp;       /**< tail loss probes that sent new data */
  uint32_t rexmit_rto;      /**< segments retransmitted after a retransmission timeout */
  uint32_t rto_events;      /**< retransmission timeouts */
  uint32_t recoveries;      /**< loss recovery episodes entered (fast recovery) */
  uint32_t rexmit_total;    /**< every retransmitted segment */
  uint32_t pacing_rate;     /**< bytes/s; 0 when not paced */
};

struct tcpt_ops {
  /** Brings the stack up with address `ip` (host order) on a point-to-point link. */
  void (*init)(const struct tcpt_host* host, uint32_t ip);
  /** An IPv4 packet arrives from the link. */
  void (*input)(const uint8_t* packet, size_t len);
  /** Runs every lwIP timer due at the current virtual time. */
  void (*run_timers)(void);
  /** Microseconds until the next lwIP timer is due (UINT64_MAX: none). */
  uint64_t (*next_timer_us)(void);
  /** Accepts one connection on `port`. Returns 0 or -1. */
  int (*listen)(uint16_t port);
  /** Connects to `ip`:`port` (host order). Returns 0 or -1. */
  int (*connect)(uint32_t ip, uint16_t port);
  /** Sends `len` bytes of `data` (kept by the caller until the transfer ends), then FIN if
   *  `fin`. The stack queues as much as its send buffer takes and the rest as it drains. */
  void (*send)(const uint8_t* data, size_t len, int fin);
  /** Bytes received so far (in order, as handed to the application); *fin set once the
   *  peer's FIN arrived. The pointer stays valid until the next call into the stack. */
  const uint8_t* (*received)(size_t* len, int* fin);
  /** Bytes of `send` not yet queued in lwIP. */
  size_t (*unqueued)(void);
  void (*info)(struct tcpt_info* out);
  /** Whether the connection was reset or aborted (lwIP's error callback ran). */
  int (*failed)(void);
  /** Congestion controller of new connections: "cubic", "bbr" or "reno". Returns 0, or -1
   *  when this lwIP has no such controller. */
  int (*set_congestion_control)(const char* name);
  /** Opens (1) or closes (0) an input batch (lwIP patch 0011): the packets `input` gets in
   *  between are one receive batch, as libntm's receive thread hands one recvmmsg over. */
  void (*input_batch)(int open);
};

const struct tcpt_ops* tcpt_stack_a(void);
const struct tcpt_ops* tcpt_stack_b(void);

#ifdef __cplusplus
}
#endif

#endif /* NTM_TCPTEST_STACK_H */
