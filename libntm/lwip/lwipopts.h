/*
 * lwIP options for NTM's own lwIP build (libntm/lwip.cmake compiles Debian's lwIP 2.1.3
 * source with this file; docs/benchmarks.md has the measurements behind the choices).
 * Only what differs from lwIP's defaults (src/include/lwip/opt.h) is set here.
 */
#ifndef NTM_LWIPOPTS_H
#define NTM_LWIPOPTS_H

/* An OS is present: lwIP's tcpip thread runs the timers; every API call takes the core lock
 * in the calling thread, and libntm's receive thread feeds packets under the same lock. */
#define NO_SYS 0
#define LWIP_TCPIP_CORE_LOCKING 1

/* BSD sockets on the system's own structs and constants (struct sockaddr_in, AF_INET, ...),
 * so ntm_* calls take exactly what BSD calls take. Descriptors start at 1; the number of
 * sockets is unbounded (Debian's LWIP_SOCKET_OPEN_COUNT). */
#define LWIP_COMPAT_SOCKETS 0
#define LWIP_SOCKET_OFFSET 1
#define LWIP_SOCKET_OPEN_COUNT 1
#define LWIP_SOCKET_SELECT 0
#define LWIP_SOCKET_POLL 1
#define LWIP_SOCKET_EXTERNAL_HEADERS 1
#define LWIP_SOCKET_EXTERNAL_HEADER_SOCKETS_H "posix/sockets.h"
#define LWIP_SOCKET_EXTERNAL_HEADER_INET_H "posix/inet.h"
#define LWIP_TCP_KEEPALIVE 1
#define LWIP_SO_SNDTIMEO 1
#define LWIP_SO_RCVTIMEO 1
#define LWIP_SO_RCVBUF 1
#define LWIP_SO_LINGER 1
#define SO_REUSE 1

/* Memory from the C library: no fixed pools to size or exhaust. */
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define LWIP_NETIF_TX_SINGLE_PBUF 1

/* One point-to-point netif (the tunnel); no Ethernet, ARP, DHCP, IGMP, forwarding. Packets
 * to the node's own vIP loop back inside the stack. */
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define IP_FORWARD 0
#define LWIP_NETIF_LOOPBACK 1
#define LWIP_HAVE_LOOPIF 0
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 1

#define LWIP_IPV4 1
#define LWIP_IPV6 1
#define LWIP_ICMP 1
#define LWIP_ICMP6 1
#define LWIP_RAW 1
#define LWIP_UDP 1
#define LWIP_TCP 1
/* vIPs are assigned by the DC, unique by construction: no DAD, SLAAC, router solicitation or
 * MLD chatter on the tunnel. */
#define LWIP_IPV6_MLD 0
#define LWIP_IPV6_AUTOCONFIG 0
#define LWIP_IPV6_SEND_ROUTER_SOLICIT 0
#define LWIP_IPV6_DUP_DETECT_ATTEMPTS 0
#define LWIP_IPV6_FORWARD 0
#define LWIP_IPV6_NUM_ADDRESSES 3

/* Every inner packet is authenticated by the tunnel's AEAD before it reaches the stack, so
 * checking IP/TCP/UDP/ICMP checksums again only costs CPU. They are still generated, so a
 * peer whose stack checks them interoperates. */
#define CHECKSUM_CHECK_IP 0
#define CHECKSUM_CHECK_UDP 0
#define CHECKSUM_CHECK_TCP 0
#define CHECKSUM_CHECK_ICMP 0
#define CHECKSUM_CHECK_ICMP6 0
#define LWIP_CHECKSUM_ON_COPY 1

/* TCP: window sizes and our lwIP TCP patches' settings, shared with the deterministic TCP
 * tests (tests/tcp/), which build lwIP with this file too. */
#include "lwipopts_tcp.h"

/* Mailboxes: the Debian port's sys_arch.c has a fixed size, raised by the build
 * (libntm/lwip.cmake); these values are what the API layer asks for. */
#define TCPIP_MBOX_SIZE 4096
#define DEFAULT_TCP_RECVMBOX_SIZE 4096
#define DEFAULT_UDP_RECVMBOX_SIZE 4096
#define DEFAULT_RAW_RECVMBOX_SIZE 256
#define DEFAULT_ACCEPTMBOX_SIZE 256

#define LWIP_STATS 0
#define LWIP_NOASSERT_ON_ERROR 1

#if !NO_SYS
void sys_check_core_locking(void);
#define LWIP_ASSERT_CORE_LOCKED() sys_check_core_locking()
void sys_mark_tcpip_thread(void);
#define LWIP_MARK_TCPIP_THREAD() sys_mark_tcpip_thread()
void sys_lock_tcpip_core(void);
#define LOCK_TCPIP_CORE() sys_lock_tcpip_core()
void sys_unlock_tcpip_core(void);
/* Releasing the core lock first runs libntm's end-of-pass hook (core_lock.c): the data plane
 * sends the tunnel packets lwIP emitted under the lock in one batch. */
void lwip_port_unlock_tcpip_core(void);
void lwip_port_set_core_unlock_hook(void (*fn)(void*), void* arg);
void* lwip_port_core_unlock_hook_arg(void);
#define UNLOCK_TCPIP_CORE() lwip_port_unlock_tcpip_core()
#define NTM_LWIP_UNLOCK_HOOK 1
#endif

#endif /* NTM_LWIPOPTS_H */
