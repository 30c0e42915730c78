# lwIP for libntm. Default: compile Debian's lwIP 2.1.3 source (third_party/lwip, fetched by
# scripts/fetch-lwip) with our own lwipopts.h (libntm/lwip/) — large TCP windows, no checksum
# checks inside the AEAD tunnel. Fallback: the packaged liblwip-dev, whose fixed options cap a
# connection at a 64 KiB window. docs/benchmarks.md records why.
set(NTM_LWIP_DIR ${PROJECT_SOURCE_DIR}/third_party/lwip)
if(EXISTS ${NTM_LWIP_DIR}/src/core/tcp.c)
  set(_ntm_lwip_default ON)
else()
  set(_ntm_lwip_default OFF)
endif()
option(NTM_LWIP_FROM_SOURCE "Build lwIP from third_party/lwip with libntm/lwip/lwipopts.h"
       ${_ntm_lwip_default})

if(NTM_LWIP_FROM_SOURCE)
  set(LWIP_DIR ${NTM_LWIP_DIR})
  include(${LWIP_DIR}/src/Filelists.cmake)
  # The Debian port's mailboxes hold 128 messages whatever size lwIP asks for; a TCP receive
  # mailbox that small cannot hold a large window's segments, so the copy we compile holds
  # 4096 (each mailbox is then 32 KiB of pointers).
  file(READ ${LWIP_DIR}/port/sys_arch.c _sys_arch)
  string(REPLACE "#define SYS_MBOX_SIZE 128" "#define SYS_MBOX_SIZE 4096" _sys_arch
                 "${_sys_arch}")
  if(NOT _sys_arch MATCHES "SYS_MBOX_SIZE 4096")
    message(FATAL_ERROR "lwIP port sys_arch.c changed: SYS_MBOX_SIZE not found")
  endif()
  # Written through configure_file so an unchanged copy keeps its timestamp (no rebuild of
  # lwIP on every configure).
  file(WRITE ${CMAKE_BINARY_DIR}/lwip_port/sys_arch.c.in "${_sys_arch}")
  configure_file(${CMAKE_BINARY_DIR}/lwip_port/sys_arch.c.in
                 ${CMAKE_BINARY_DIR}/lwip_port/sys_arch.c COPYONLY)
  add_library(ntm_lwip STATIC ${lwipcore_SRCS} ${lwipcore4_SRCS} ${lwipcore6_SRCS}
                              ${lwipapi_SRCS} ${CMAKE_BINARY_DIR}/lwip_port/sys_arch.c)
  target_include_directories(ntm_lwip SYSTEM PUBLIC ${PROJECT_SOURCE_DIR}/libntm/lwip
                             ${LWIP_DIR}/port/include ${LWIP_DIR}/src/include)
  target_compile_options(ntm_lwip PRIVATE -w)  # third-party code: its warnings are not ours
  target_link_libraries(ntm_lwip PUBLIC Threads::Threads)
  set(NTM_LWIP_TARGET ntm_lwip)
  message(STATUS "lwIP: built from ${LWIP_DIR} with libntm/lwip/lwipopts.h")
else()
  set(NTM_LWIP_TARGET PkgConfig::LWIP)
  message(STATUS "lwIP: packaged liblwip-dev (64 KiB TCP windows)")
endif()
