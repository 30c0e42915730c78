/* The release of lwIP's core lock, with libntm's end-of-pass hook (lwipopts.h).
 *
 * Every thread that runs lwIP (the tcpip thread between its timeouts and messages, libntm's
 * receive thread per batch of datagrams, an application thread per socket call) holds the
 * core lock while lwIP emits packets and releases it when its pass is over. The data plane
 * collects the tunnel packets of one pass and sends them together from this hook
 * (libntm/src/packet/send.cpp), so no packet waits past the pass that made it. The hook and
 * its argument are read and written under the core lock only. */
#include <stddef.h>

#include "lwip/tcpip.h"

static void (*unlock_hook)(void*);
static void* unlock_hook_arg;

void lwip_port_set_core_unlock_hook(void (*fn)(void*), void* arg) {
  unlock_hook = fn;
  unlock_hook_arg = arg;
}

void* lwip_port_core_unlock_hook_arg(void) {
  return unlock_hook ? unlock_hook_arg : NULL;
}

void lwip_port_unlock_tcpip_core(void) {
  if (unlock_hook) unlock_hook(unlock_hook_arg);
  sys_unlock_tcpip_core();
}
