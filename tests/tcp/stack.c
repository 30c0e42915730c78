/*
 * One lwIP stack for the deterministic TCP tests (see stack.h): a point-to-point netif whose
 * output goes to the test's link, lwIP's raw TCP API for one connection, and the test's
 * virtual clock as lwIP's clock. Compiled into each stack copy with lwIP itself.
 */
#include <stdlib.h>
#include <string.h>

#include "lwip/init.h"
#include "lwip/ip4.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/priv/tcp_priv.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"
#include "stack.h"

static const struct tcpt_host* g_host;
static struct netif g_netif;
static struct tcp_pcb* g_listener;
static struct tcp_pcb* g_pcb;
static int g_failed;

static const uint8_t* g_src;
static size_t g_src_len, g_src_queued;
static int g_src_fin, g_fin_sent;

static uint8_t* g_rx;
static size_t g_rx_len, g_rx_cap;
static int g_rx_fin;

u32_t sys_now(void) {
  return (u32_t)(g_host->now_us(g_host->ctx) / 1000);
}

uint32_t tcpt_now_us(void) {
  return (uint32_t)g_host->now_us(g_host->ctx);
}

static err_t link_output(struct netif* netif, struct pbuf* p, const ip4_addr_t* dst) {
  static uint8_t buf[65536];
  (void)netif;
  (void)dst;
  u16_t n = pbuf_copy_partial(p, buf, p->tot_len, 0);
  g_host->output(g_host->ctx, buf, n);
  return ERR_OK;
}

static err_t link_init(struct netif* netif) {
  netif->name[0] = 't';
  netif->name[1] = 't';
  netif->output = link_output;
  netif->mtu = 1420;
  netif->flags = NETIF_FLAG_LINK_UP;
  return ERR_OK;
}

static void pump(void) {
  if (!g_pcb) return;
  while (g_src_queued < g_src_len) {
    size_t room = tcp_sndbuf(g_pcb);
    size_t n = g_src_len - g_src_queued;
    if (n > room) n = room;
    if (n > 0xffff) n = 0xffff;
    if (n == 0 || tcp_sndqueuelen(g_pcb) >= TCP_SND_QUEUELEN - 4) break;
    u8_t more = g_src_queued + n < g_src_len ? TCP_WRITE_FLAG_MORE : 0;
    if (tcp_write(g_pcb, g_src + g_src_queued, (u16_t)n, TCP_WRITE_FLAG_COPY | more) != ERR_OK)
      break;
    g_src_queued += n;
  }
  if (g_src_fin && !g_fin_sent && g_src_queued == g_src_len) {
    if (tcp_shutdown(g_pcb, 0, 1) == ERR_OK) g_fin_sent = 1;
  }
  tcp_output(g_pcb);
}

static err_t on_sent(void* arg, struct tcp_pcb* pcb, u16_t len) {
  (void)arg;
  (void)pcb;
  (void)len;
  pump();
  return ERR_OK;
}

static err_t on_recv(void* arg, struct tcp_pcb* pcb, struct pbuf* p, err_t err) {
  (void)arg;
  (void)err;
  if (!p) {
    g_rx_fin = 1;
    return ERR_OK;
  }
  if (g_rx_len + p->tot_len > g_rx_cap) {
    size_t cap = g_rx_cap ? g_rx_cap : 65536;
    while (cap < g_rx_len + p->tot_len) cap *= 2;
    g_rx = (uint8_t*)realloc(g_rx, cap);
    g_rx_cap = cap;
  }
  pbuf_copy_partial(p, g_rx + g_rx_len, p->tot_len, 0);
  g_rx_len += p->tot_len;
  tcp_recved(pcb, p->tot_len);
  pbuf_free(p);
  return ERR_OK;
}

static void on_err(void* arg, err_t err) {
  (void)arg;
  (void)err;
  g_failed = 1;
  g_pcb = NULL;
}

static void attach(struct tcp_pcb* pcb) {
  g_pcb = pcb;
  tcp_recv(pcb, on_recv);
  tcp_sent(pcb, on_sent);
  tcp_err(pcb, on_err);
  tcp_nagle_disable(pcb);
}

static err_t on_accept(void* arg, struct tcp_pcb* pcb, err_t err) {
  (void)arg;
  if (err != ERR_OK || !pcb || g_pcb) return ERR_VAL;
  attach(pcb);
  pump();
  return ERR_OK;
}

static err_t on_connected(void* arg, struct tcp_pcb* pcb, err_t err) {
  (void)arg;
  (void)pcb;
  (void)err;
  pump();
  return ERR_OK;
}

static void op_init(const struct tcpt_host* host, uint32_t ip) {
  ip4_addr_t addr, mask, gw;
  g_host = host;
  lwip_init();
  ip4_addr_set_u32(&addr, lwip_htonl(ip));
  ip4_addr_set_u32(&mask, 0);
  ip4_addr_set_zero(&gw);
  netif_add(&g_netif, &addr, &mask, &gw, NULL, link_init, ip4_input);
  netif_set_default(&g_netif);
  netif_set_up(&g_netif);
}

static void op_input(const uint8_t* packet, size_t len) {
  struct pbuf* p = pbuf_alloc(PBUF_RAW, (u16_t)len, PBUF_RAM);
  if (!p) return;
  memcpy(p->payload, packet, len);
  if (g_netif.input(p, &g_netif) != ERR_OK) pbuf_free(p);
}

static void op_input_batch(int open) {
#ifdef LWIP_TCP_NTM_INPUT_BATCH
  if (open)
    tcp_input_batch_begin();
  else
    tcp_input_batch_end();
#else
  (void)open;
#endif
}

static void op_run_timers(void) {
  sys_check_timeouts();
}

static uint64_t op_next_timer_us(void) {
  u32_t sleep = sys_timeouts_sleeptime();
  if (sleep == SYS_TIMEOUTS_SLEEPTIME_INFINITE) return UINT64_MAX;
  uint64_t now = g_host->now_us(g_host->ctx);
  uint64_t due = ((now / 1000) + sleep) * 1000;
  return due > now ? due - now : 0;
}

static int op_listen(uint16_t port) {
  struct tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
  if (!pcb || tcp_bind(pcb, IP4_ADDR_ANY, port) != ERR_OK) return -1;
  g_listener = tcp_listen(pcb);
  if (!g_listener) return -1;
  tcp_accept(g_listener, on_accept);
  return 0;
}

static int op_connect(uint32_t ip, uint16_t port) {
  ip_addr_t dst;
  struct tcp_pcb* pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
  if (!pcb) return -1;
  attach(pcb);
  ip_addr_set_ip4_u32(&dst, lwip_htonl(ip));
  return tcp_connect(pcb, &dst, port, on_connected) == ERR_OK ? 0 : -1;
}

static void op_send(const uint8_t* data, size_t len, int fin) {
  g_src = data;
  g_src_len = len;
  g_src_queued = 0;
  g_src_fin = fin;
  g_fin_sent = 0;
  if (g_pcb && g_pcb->state == ESTABLISHED) pump();
}

static const uint8_t* op_received(size_t* len, int* fin) {
  *len = g_rx_len;
  *fin = g_rx_fin;
  return g_rx;
}

static size_t op_unqueued(void) {
  return g_src_len - g_src_queued;
}

static void op_info(struct tcpt_info* out) {
  memset(out, 0, sizeof *out);
  out->state = -1;
  if (!g_pcb) return;
  out->state = (int)g_pcb->state;
  out->cwnd = g_pcb->cwnd;
  out->ssthresh = g_pcb->ssthresh;
  out->snd_una = g_pcb->lastack;
  out->snd_nxt = g_pcb->snd_nxt;
  out->rcv_nxt = g_pcb->rcv_nxt;
  out->unacked_bytes = g_pcb->snd_nxt - g_pcb->lastack;
#ifdef LWIP_TCP_NTM_RTO
  out->srtt_us = g_pcb->srtt_us;
  out->rto_ms = tcp_rto_backed_off_us(g_pcb) / 1000;
#endif
#ifdef LWIP_TCP_NTM_SACK
  out->rexmit_recovery = g_pcb->ntm_stats.rexmit_recovery;
  out->rexmit_tlp = g_pcb->ntm_stats.rexmit_tlp;
  out->probe_tlp = g_pcb->ntm_stats.probe_tlp;
  out->rexmit_rto = g_pcb->ntm_stats.rexmit_rto;
  out->rto_events = g_pcb->ntm_stats.rto_events;
  out->recoveries = g_pcb->ntm_stats.recoveries;
  out->rexmit_total = g_pcb->ntm_stats.rexmit_total;
#endif
#ifdef LWIP_TCP_NTM_BBR
  out->pacing_rate = g_pcb->pacing_rate;
#endif
}

static int op_failed(void) {
  return g_failed;
}

static int op_set_congestion_control(const char* name) {
#ifdef LWIP_TCP_NTM_BBR
  const struct tcp_cc_ops* all[] = {&tcp_cc_cubic, &tcp_cc_bbr, &tcp_cc_reno};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    if (strcmp(all[i]->name, name) == 0) {
      tcp_cc_default = all[i];
      return 0;
    }
#endif
  (void)name;
  return -1;
}

static const struct tcpt_ops g_ops = {op_init,          op_input,    op_run_timers,
                                      op_next_timer_us, op_listen,   op_connect,
                                      op_send,          op_received, op_unqueued,
                                      op_info,          op_failed,   op_set_congestion_control,
                                      op_input_batch};

/* Renamed to tcpt_stack_a / tcpt_stack_b by the build; every other symbol becomes local. */
const struct tcpt_ops* tcpt_stack_entry(void) {
  return &g_ops;
}
