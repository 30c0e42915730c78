// gtest printers for the wire types, so a failed comparison shows "192.0.2.1:4500" instead of
// a 128-byte dump. Found by argument-dependent lookup; include from any test comparing them.
#pragma once

#include <ostream>

#include "proto/endpoint.h"

namespace ntm::proto {

inline void PrintTo(const Endpoint& e, std::ostream* os) {
  *os << e.to_string();
}

}  // namespace ntm::proto
