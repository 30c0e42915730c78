# libntm: the node library (negotiation, packet manipulation, sockets) over lwIP.
#
# A shared library, libntm.so.<SOVERSION>, that exports only the ntm_* functions of ntm/ntm.h
# (cmake/libntm.map): lwIP (built with our lwipopts.h), the crypto and protocol code, spdlog
# and asio stay inside it, so a process may load another lwIP or spdlog of its own without
# the two mixing, and a C program links it with nothing else (libstdc++ and libsodium are its
# own DT_NEEDED entries). docs/embedding.md gives the reasons in full.
include(${CMAKE_CURRENT_SOURCE_DIR}/lwip.cmake)
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
# ntm_core: the library's code as a static archive of position-independent objects. libntm.so
# is made of it; white-box tests and fuzz targets that reach into the internals (negotiation,
# packet path) link ntm_core directly, since the shared library exports only the C API.
add_library(ntm_core STATIC
  src/handover/link_monitor.cpp
  src/negotiation/dc_link.cpp
  src/negotiation/direction.cpp
  src/negotiation/negotiator.cpp
  src/negotiation/network_change.cpp
  src/negotiation/notification.cpp
  src/negotiation/path_selection.cpp
  src/negotiation/tunnel_timers.cpp
  src/negotiation/tunnel_setup.cpp
  src/node/api.cpp
  src/node/linger.cpp
  src/node/log.cpp
  src/node/node.cpp
  src/notify/ns_link.cpp
  src/packet/netif.cpp
  src/packet/reassembly.cpp
  src/packet/tcp_nudge.cpp
  src/packet/receive.cpp
  src/packet/send.cpp
  src/packet/tunnel_table.cpp
  src/packet/udp_transport.cpp
  src/socket/event_notifier.cpp
  src/socket/socket.cpp)
set_target_properties(ntm_core PROPERTIES POSITION_INDEPENDENT_CODE ON)
target_include_directories(ntm_core PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                                           ${CMAKE_CURRENT_SOURCE_DIR}/src ${ASIO_INCLUDE_DIR})
# Every translation unit must see asio configured the same way (its allocator choice depends
# on which standard headers came first otherwise: an ODR violation ASan reports).
target_compile_definitions(ntm_core PUBLIC ASIO_STANDALONE ASIO_NO_DEPRECATED
                                           ASIO_DISABLE_STD_ALIGNED_ALLOC)
target_link_libraries(ntm_core PUBLIC ntm_crypto ${NTM_LWIP_TARGET} Threads::Threads
                                      spdlog::spdlog PkgConfig::MNL)

add_library(ntm SHARED)
add_library(ntm::ntm ALIAS ntm)
target_sources(ntm PUBLIC FILE_SET HEADERS BASE_DIRS ${CMAKE_CURRENT_SOURCE_DIR}/include
               FILES include/ntm/ntm.h include/ntm/ntm.hpp)
# All private: nothing of these reaches a consumer's compile or link line.
target_link_libraries(ntm PRIVATE "$<LINK_LIBRARY:WHOLE_ARCHIVE,ntm_core>")

# While the major version is 0, every minor version may change the ABI: SONAME libntm.so.0.1.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(NTM_SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
else()
  set(NTM_SOVERSION ${PROJECT_VERSION_MAJOR})
endif()
set(NTM_SYMBOL_MAP ${PROJECT_SOURCE_DIR}/cmake/libntm.map)
set_target_properties(ntm PROPERTIES VERSION ${PROJECT_VERSION} SOVERSION ${NTM_SOVERSION}
                                     LINK_DEPENDS ${NTM_SYMBOL_MAP})
target_link_options(ntm PRIVATE -Wl,--version-script=${NTM_SYMBOL_MAP})
# Every symbol libntm.so needs must come from its own DT_NEEDED libraries, so that a consumer
# never has to name them. (Sanitizer builds leave the runtime to the executable.)
if(NOT NTM_SANITIZE AND NOT NTM_FUZZ)
  target_link_options(ntm PRIVATE -Wl,--no-undefined)
endif()
