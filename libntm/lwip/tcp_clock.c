/* The microsecond clock of our lwIP TCP patches (TCP_NOW_US() in lwipopts_tcp.h): segment
 * transmit times, RTT samples and the fine-grained TCP timers. CLOCK_MONOTONIC, truncated
 * to 32 bits; the patches compare times with wrapping arithmetic. */
#include <stdint.h>
#include <time.h>

uint32_t ntm_tcp_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint32_t)((uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
}
