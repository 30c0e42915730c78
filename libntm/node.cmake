# libntm: the node library (negotiation, packet manipulation, sockets) over lwIP.
include(${CMAKE_CURRENT_SOURCE_DIR}/lwip.cmake)
find_path(ASIO_INCLUDE_DIR asio.hpp REQUIRED)
add_library(ntm STATIC
  src/negotiation/dc_link.cpp
  src/negotiation/direction.cpp
  src/negotiation/negotiator.cpp
  src/negotiation/tunnel_keepalive.cpp
  src/negotiation/tunnel_setup.cpp
  src/node/api.cpp
  src/node/log.cpp
  src/node/node.cpp
  src/packet/netif.cpp
  src/packet/reassembly.cpp
  src/packet/receive.cpp
  src/packet/send.cpp
  src/packet/tunnel_table.cpp
  src/packet/udp_transport.cpp
  src/socket/event_notifier.cpp
  src/socket/socket.cpp)
target_include_directories(ntm PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include
                           PRIVATE ${CMAKE_CURRENT_SOURCE_DIR}/src ${ASIO_INCLUDE_DIR})
# Every translation unit must see asio configured the same way (its allocator choice depends
# on which standard headers came first otherwise: an ODR violation ASan reports).
target_compile_definitions(ntm PRIVATE ASIO_STANDALONE ASIO_NO_DEPRECATED
                           ASIO_DISABLE_STD_ALIGNED_ALLOC)
target_link_libraries(ntm PUBLIC ntm_crypto ${NTM_LWIP_TARGET} Threads::Threads
                      PRIVATE spdlog::spdlog)
