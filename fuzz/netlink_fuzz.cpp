// Fuzz target: handover::classify, the node's reading of rtnetlink messages
// (libntm/src/handover/link_monitor.h). The kernel writes them, but a buffer is parsed as
// received: any bytes must be classified without reading outside them.
//
// Invariants: at most one event per message, so never more events than the buffer could
// hold headers (16 bytes each); a buffer that classify() accepts is a whole number of
// aligned messages.
#include <cstdint>
#include <cstring>
#include <vector>

#include "fuzz_support.h"
#include "handover/link_monitor.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 65536) return 0;
  // As recvfrom() leaves it: in an aligned buffer of exactly the received length.
  std::vector<uint32_t> aligned((size + 3) / 4 + 1);
  std::memcpy(aligned.data(), data, size);
  std::vector<ntm::handover::LinkEvent> events;
  bool whole =
      ntm::handover::classify(reinterpret_cast<const uint8_t*>(aligned.data()), size, events);
  FUZZ_CHECK(events.size() <= size / 16);
  if (whole) FUZZ_CHECK(size % 4 == 0);
  for (auto e : events) FUZZ_CHECK(e != ntm::handover::LinkEvent::kNone);
  return 0;
}
