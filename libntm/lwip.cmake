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
# For comparisons only (docs/benchmarks.md): the source build without our TCP patches.
option(NTM_LWIP_PATCHES "Apply libntm/lwip/patches to lwIP's TCP (source build)" ON)

# Our patch series on lwIP's TCP (libntm/lwip/patches/NNNN-*.patch, applied in name order with
# `patch -p1`, each one concern citing its RFC; libntm/lwip/patches/README.md lists them). The
# fetched source stays pristine: the build patches a copy in build/lwip-patched/ at configure
# time, and a changed patch re-runs the configure step. Files whose patched text did not
# change keep their timestamps, so only what a patch touches is recompiled.
function(ntm_lwip_patched_tree out_dir)
  set(src ${NTM_LWIP_DIR})
  set(dst ${PROJECT_BINARY_DIR}/lwip-patched)
  set(tmp ${PROJECT_BINARY_DIR}/lwip-patched.tmp)
  file(GLOB patches ${PROJECT_SOURCE_DIR}/libntm/lwip/patches/*.patch)
  list(SORT patches)
  if(NOT NTM_LWIP_PATCHES)
    set(patches "")
  endif()
  set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${patches}
                                                                 ${src}/src/core/tcp.c)
  find_program(NTM_PATCH patch REQUIRED)
  file(REMOVE_RECURSE ${tmp})
  file(COPY ${src}/src ${src}/port ${src}/doc DESTINATION ${tmp})
  foreach(p IN LISTS patches)
    execute_process(COMMAND ${NTM_PATCH} -p1 --batch --forward --fuzz=0 --no-backup-if-mismatch
                            -d ${tmp} -i ${p}
                    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
    if(NOT rc EQUAL 0)
      message(FATAL_ERROR "lwIP patch ${p} does not apply to ${src}:\n${out}")
    endif()
  endforeach()
  file(GLOB_RECURSE new_files RELATIVE ${tmp} ${tmp}/*)
  foreach(f IN LISTS new_files)
    get_filename_component(d ${dst}/${f} DIRECTORY)
    file(MAKE_DIRECTORY ${d})
    file(COPY_FILE ${tmp}/${f} ${dst}/${f} ONLY_IF_DIFFERENT)
  endforeach()
  file(GLOB_RECURSE old_files RELATIVE ${dst} ${dst}/*)
  foreach(f IN LISTS old_files)
    if(NOT EXISTS ${tmp}/${f})
      file(REMOVE ${dst}/${f})
    endif()
  endforeach()
  file(REMOVE_RECURSE ${tmp})
  list(LENGTH patches n)
  message(STATUS "lwIP: ${n} patches from libntm/lwip/patches applied in ${dst}")
  set(${out_dir} ${dst} PARENT_SCOPE)
endfunction()

if(NTM_LWIP_FROM_SOURCE)
  ntm_lwip_patched_tree(LWIP_DIR)
  include(${LWIP_DIR}/src/Filelists.cmake)
  # The deterministic TCP tests (tests/tcp/) compile the same patched lwIP core.
  set(NTM_LWIP_PATCHED_DIR ${LWIP_DIR} CACHE INTERNAL "patched lwIP source tree")
  set(NTM_LWIP_CORE4_SRCS ${lwipcore_SRCS} ${lwipcore4_SRCS} CACHE INTERNAL "lwIP core, IPv4")
  # The Debian port's mailboxes hold 128 messages whatever size lwIP asks for; a TCP receive
  # mailbox that small cannot hold a large window's segments, so the copy we compile holds
  # 4096 (each mailbox is then 32 KiB of pointers).
  file(READ ${LWIP_DIR}/port/sys_arch.c _sys_arch)
  string(REPLACE "#define SYS_MBOX_SIZE 128" "#define SYS_MBOX_SIZE 4096" _sys_arch
                 "${_sys_arch}")
  if(NOT _sys_arch MATCHES "SYS_MBOX_SIZE 4096")
    message(FATAL_ERROR "lwIP port sys_arch.c changed: SYS_MBOX_SIZE not found")
  endif()
  # sys_arch_protect() reads the owner of its recursive lock without holding it, while the
  # owner writes it: a data race in C11's terms (ThreadSanitizer reports it). The copy we
  # compile reads and writes the owner with relaxed atomics; the lock itself is unchanged.
  macro(_ntm_sys_arch_replace from to)
    string(FIND "${_sys_arch}" "${from}" _at)
    if(_at EQUAL -1)
      message(FATAL_ERROR "lwIP port sys_arch.c changed: '${from}' not found")
    endif()
    string(REPLACE "${from}" "${to}" _sys_arch "${_sys_arch}")
  endmacro()
  _ntm_sys_arch_replace("lwprot_thread != pthread_self()"
                        "__atomic_load_n(&lwprot_thread, __ATOMIC_RELAXED) != pthread_self()")
  _ntm_sys_arch_replace("lwprot_thread == pthread_self()"
                        "__atomic_load_n(&lwprot_thread, __ATOMIC_RELAXED) == pthread_self()")
  _ntm_sys_arch_replace("lwprot_thread = pthread_self()"
                        "__atomic_store_n(&lwprot_thread, pthread_self(), __ATOMIC_RELAXED)")
  _ntm_sys_arch_replace("lwprot_thread = (pthread_t) 0xDEAD"
                        "__atomic_store_n(&lwprot_thread, (pthread_t)0xDEAD, __ATOMIC_RELAXED)")
  # Written through configure_file so an unchanged copy keeps its timestamp (no rebuild of
  # lwIP on every configure).
  file(WRITE ${CMAKE_CURRENT_BINARY_DIR}/lwip_port/sys_arch.c.in "${_sys_arch}")
  configure_file(${CMAKE_CURRENT_BINARY_DIR}/lwip_port/sys_arch.c.in
                 ${CMAKE_CURRENT_BINARY_DIR}/lwip_port/sys_arch.c COPYONLY)
  add_library(ntm_lwip STATIC ${lwipcore_SRCS} ${lwipcore4_SRCS} ${lwipcore6_SRCS}
                              ${lwipapi_SRCS} ${CMAKE_CURRENT_BINARY_DIR}/lwip_port/sys_arch.c
                              ${PROJECT_SOURCE_DIR}/libntm/lwip/tcp_clock.c
                              ${PROJECT_SOURCE_DIR}/libntm/lwip/core_lock.c)
  target_include_directories(ntm_lwip SYSTEM PUBLIC ${PROJECT_SOURCE_DIR}/libntm/lwip
                             ${LWIP_DIR}/port/include ${LWIP_DIR}/src/include)
  target_compile_options(ntm_lwip PRIVATE -w)  # third-party code: its warnings are not ours
  target_link_libraries(ntm_lwip PUBLIC Threads::Threads m)  # m: cbrt() for CUBIC
  set(NTM_LWIP_TARGET ntm_lwip)
  message(STATUS "lwIP: built from ${LWIP_DIR} with libntm/lwip/lwipopts.h")
else()
  pkg_check_modules(LWIP REQUIRED IMPORTED_TARGET lwip)
  set(NTM_LWIP_TARGET PkgConfig::LWIP)
  message(STATUS "lwIP: packaged liblwip-dev (64 KiB TCP windows)")
endif()
