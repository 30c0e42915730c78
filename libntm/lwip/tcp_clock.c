/* The clock and timer wake-up of our lwIP TCP patches (lwipopts_tcp.h).
 *
 * TCP_NOW_US(): segment transmit times, RTT samples and the fine-grained TCP timers run on
 * CLOCK_MONOTONIC in microseconds, truncated to 32 bits; the patches compare times with
 * wrapping arithmetic.
 *
 * TCP_TIMER_KICKED(): lwIP's timeouts run in its tcpip thread, which sleeps until the
 * earliest timeout it knew of when it went to sleep. libntm's receive thread and the
 * application threads run TCP under the core lock; when they schedule an earlier TCP
 * deadline (a paced segment, a loss probe), a no-op message wakes the tcpip thread so it
 * recomputes its sleep. */
#include <stdint.h>
#include <time.h>

#include "lwip/tcpip.h"

uint32_t lwip_port_tcp_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}

static void ntm_tcp_timer_wakeup(void* arg) {
  (void)arg;
}

void lwip_port_tcp_timer_kicked(void) {
  /* If the mailbox is full the thread is busy and will look at its timeouts soon. */
  (void)tcpip_try_callback(ntm_tcp_timer_wakeup, NULL);
}
