// The input language of the DC fuzz target (dc_datagram_fuzz.cpp), shared with fuzz_seedgen.
//
//   input := op*
//   op    := code (u8) [length (u16 BE) bytes]
//
// (code & 7) % 7 is the operation, (code >> 3) & 1 the node (A or B) it acts for:
//   kRaw        length, bytes  the node's socket sends the bytes to the DC as they are
//   kSealed     length, bytes  the bytes are sealed as a kControl packet with the node's control
//                              session and sent (a handshake is made first when it has none)
//   kReplay     -              the node sends its last datagram again
//   kHandshake  -              the node makes a new Noise IK handshake with the DC
//   kMove       -              the node gets a new socket (a new source port: NAT rebinding)
//   kSealedSelf length, bytes  as kSealed, with a kRealAddress attribute holding the node's own
//                              socket address appended (so the DC can find the node reachable,
//                              which a seed cannot know in advance: the port is ephemeral)
//   kEarly      length, bytes  as kHandshake, with the bytes as message 1's early data
//                              (docs/protocol.md §3.2: the DC decodes them as a control message)
// A length running past the end of the input is cut to what is left.
#pragma once

#include <cstdint>
#include <vector>

namespace ntm::fuzz::dc_ops {

enum Op : uint8_t {
  kRaw = 0,
  kSealed = 1,
  kReplay = 2,
  kHandshake = 3,
  kMove = 4,
  kSealedSelf = 5,
  kEarly = 6
};
inline constexpr uint8_t kOps = 7;
inline constexpr uint8_t kNodeB = 0x08;

/// The DC's fixed configuration in the target; the seeds name nodes in its domain.
inline constexpr char kDomain[] = "dc.fuzz";

/// Appends one operation to a seed.
inline void append(std::vector<uint8_t>& out, uint8_t code, const std::vector<uint8_t>& body = {},
                   bool with_length = false) {
  out.push_back(code);
  if (with_length) {
    out.push_back(uint8_t(body.size() >> 8));
    out.push_back(uint8_t(body.size()));
    out.insert(out.end(), body.begin(), body.end());
  }
}

}  // namespace ntm::fuzz::dc_ops
