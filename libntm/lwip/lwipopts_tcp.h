/*
 * TCP options for NTM's lwIP build, included by lwipopts.h and by the deterministic TCP tests
 * (tests/tcp/lwipopts.h), so the tests exercise exactly the TCP the node runs.
 */
#ifndef NTM_LWIPOPTS_TCP_H
#define NTM_LWIPOPTS_TCP_H

/* TCP sized for real paths: the packaged build's 64 KiB window caps a connection at about
 * 26 Mbit/s over 20 ms RTT. 4 MiB windows (window scale 7) allow 1.6 Gbit/s at 20 ms and
 * 330 Mbit/s at 100 ms. Until 2026-12 they were 2 MiB: 4 MiB had overflowed the receiving
 * node's UDP socket buffer when both directions ran at once, and lwIP's loss recovery of the
 * time stalled for seconds. With SACK recovery, RACK-TLP and BBR's pacing (patches
 * 0003-0007) that is gone (scripts/demo's two-way 20 MB exchange: no RcvbufErrors), and
 * 2 MiB had become the limit on the test network: 0.71-0.77x kernel TCP for 32 MiB at 0 %
 * loss, 0.91x with 4 MiB (docs/benchmarks.md). Memory is used only while data is in flight
 * or unread.
 * MSS = tunnel MTU 1420 - 40 (IPv6 header) - 0 options. */
#define TCP_MSS 1380
#define LWIP_WND_SCALE 1
#define TCP_RCV_SCALE 7
#define TCP_WND (4 * 1024 * 1024)
#define TCP_SND_BUF (4 * 1024 * 1024)
#define TCP_SND_QUEUELEN ((4 * TCP_SND_BUF + TCP_MSS - 1) / TCP_MSS)
#define TCP_SNDLOWAT (32 * 1024) /* lwIP keeps it below 64 KiB - 4 MSS */
#define TCP_OOSEQ_MAX_BYTES TCP_WND
#define LWIP_TCP_SACK_OUT 1

/* Congestion control: BBR (tcp_bbr.c), chosen by measurement on the test network with random
 * loss, where loss-based controllers collapse (docs/benchmarks.md: at 20 ms RTT and 1 % loss
 * CUBIC moved 7 Mbit/s, BBR over 100). NTM_TCP_CC=cubic|reno selects another at run time. */
#define TCP_CC_DEFAULT tcp_cc_bbr

/* Initial window of ten segments (RFC 6928), as Linux's: a short transfer needs two RTTs
 * fewer than with RFC 3390's three. */
#define LWIP_TCP_CALC_INITIAL_CWND(mss) \
  ((tcpwnd_size_t)LWIP_MIN(10U * (mss), LWIP_MAX(2U * (mss), 14600U)))

/* The TCP clock of our patches: microseconds on CLOCK_MONOTONIC (libntm/lwip/tcp_clock.c);
 * and, since libntm's receive thread feeds TCP under the core lock, a wake-up for lwIP's
 * tcpip thread when TCP needs its timeouts sooner. The tests define their own virtual clock
 * (and need no wake-up: one thread) before including this file. */
#ifndef TCP_NOW_US
#include <stdint.h>
uint32_t lwip_port_tcp_now_us(void);
#define TCP_NOW_US() lwip_port_tcp_now_us()
void lwip_port_tcp_timer_kicked(void);
#define TCP_TIMER_KICKED() lwip_port_tcp_timer_kicked()
#endif

#endif /* NTM_LWIPOPTS_TCP_H */
