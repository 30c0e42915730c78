#include "proto/ns_wire.h"

#include <algorithm>

namespace ntm::proto::ns {

std::optional<size_t> parse_frame_length(const uint8_t header[kFrameHeaderSize]) {
  size_t len = get_u16(header);
  if (len == 0 || len > kMaxFramePayload) return std::nullopt;
  return len;
}

Bytes encode_frame(ByteView payload) {
  if (payload.empty() || payload.size() > kMaxFramePayload) return {};
  Bytes out(kFrameHeaderSize + payload.size());
  put_u16(out.data(), uint16_t(payload.size()));
  std::memcpy(out.data() + kFrameHeaderSize, payload.data(), payload.size());
  return out;
}

std::optional<Message> decode_message(ByteView plain) {
  if (plain.size() != kMessageSize) return std::nullopt;
  switch (Message(plain[0])) {
    case Message::kPing:
    case Message::kPong:
    case Message::kNotify:
      return Message(plain[0]);
  }
  return std::nullopt;
}

FrameReader::Status FrameReader::next(ByteView data, size_t& consumed) {
  consumed = 0;
  if (failed_) return Status::kError;
  if (want_ == 0 && header_have_ == kFrameHeaderSize) {  // the previous call returned a frame
    header_have_ = 0;
    frame_.clear();
  }
  while (header_have_ < kFrameHeaderSize) {
    if (consumed == data.size()) return Status::kNeedMore;
    header_[header_have_++] = data[consumed++];
    if (header_have_ == kFrameHeaderSize) {
      auto len = parse_frame_length(header_);
      if (!len) {
        failed_ = true;
        return Status::kError;
      }
      want_ = *len;
      frame_.clear();
      frame_.reserve(want_);
    }
  }
  size_t take = std::min(want_, data.size() - consumed);
  frame_.insert(frame_.end(), data.begin() + consumed, data.begin() + consumed + take);
  consumed += take;
  want_ -= take;
  return want_ == 0 ? Status::kFrame : Status::kNeedMore;
}

}  // namespace ntm::proto::ns
