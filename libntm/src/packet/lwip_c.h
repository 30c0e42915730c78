// Includes lwIP's option header with C linkage. The packaged lwipopts.h declares the core-lock
// functions (sys_lock_tcpip_core, ...) outside any extern "C" block, so C++ code must see it
// first through this header; every lwIP header included afterwards finds it already included.
#pragma once

extern "C" {
#include "lwip/opt.h"
#include "lwip/priv/sockets_priv.h"
#include "lwip/priv/tcp_priv.h"
}
