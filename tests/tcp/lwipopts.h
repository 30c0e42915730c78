/*
 * lwIP options for the deterministic TCP tests: each test stack is lwIP's raw API without an
 * OS (NO_SYS), driven by the test's virtual clock. The TCP options are the node's own
 * (libntm/lwip/lwipopts_tcp.h).
 */
#ifndef NTM_TCPTEST_LWIPOPTS_H
#define NTM_TCPTEST_LWIPOPTS_H

#define NO_SYS 1
#define SYS_LIGHTWEIGHT_PROT 0
#define LWIP_NETCONN 0
#define LWIP_SOCKET 0
#define MEM_LIBC_MALLOC 1
#define MEMP_MEM_MALLOC 1
#define MEM_ALIGNMENT 8
#define LWIP_NETIF_TX_SINGLE_PBUF 1
#define LWIP_ARP 0
#define LWIP_ETHERNET 0
#define LWIP_IPV4 1
#define LWIP_IPV6 0
#define LWIP_ICMP 1
#define LWIP_RAW 0
#define LWIP_UDP 0
#define LWIP_TCP 1
#define LWIP_DHCP 0
#define LWIP_AUTOIP 0
#define LWIP_IGMP 0
#define LWIP_DNS 0
#define IP_FORWARD 0
#define LWIP_RANDOMIZE_INITIAL_LOCAL_PORTS 0
#define CHECKSUM_CHECK_IP 0
#define CHECKSUM_CHECK_TCP 0
#define LWIP_CHECKSUM_ON_COPY 1
#define LWIP_STATS 0
#define LWIP_NOASSERT_ON_ERROR 1

/* The test's clock in microseconds (stack.c). */
#include <stdint.h>
uint32_t tcpt_now_us(void);
#define TCP_NOW_US() tcpt_now_us()

#include "lwipopts_tcp.h"

#endif /* NTM_TCPTEST_LWIPOPTS_H */
