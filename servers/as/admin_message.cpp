#include "as/admin_message.h"

#include "crypto/static_key.h"

namespace ntm::as {

const char* to_string(AdminStatus s) {
  switch (s) {
    case AdminStatus::kOk:
      return "ok";
    case AdminStatus::kNotAuthorized:
      return "not authorized (key not listed at the AS for this request)";
    case AdminStatus::kBadRequest:
      return "bad request";
    case AdminStatus::kExists:
      return "account exists";
    case AdminStatus::kNotFound:
      return "no such account (or node)";
    case AdminStatus::kInternal:
      return "internal error at the AS";
    case AdminStatus::kBadCredentials:
      return "bad credentials";
    case AdminStatus::kRateLimited:
      return "rate limited, try later";
    case AdminStatus::kNodeLimit:
      return "node limit of the account reached";
  }
  return "unknown status";
}

std::optional<std::string> canonical_node_identity(const std::string& field) {
  if (field.size() != 44) return std::nullopt;
  auto key = crypto::key_from_base64(field);
  if (!key) return std::nullopt;
  return crypto::key_to_base64(*key);
}

proto::Bytes AdminMessage::encode() const {
  if (fields.size() > kMaxFields) return {};
  proto::Bytes out;
  out.push_back(op);
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(uint8_t(id >> shift));
  if (is_response()) out.push_back(uint8_t(status));
  out.push_back(uint8_t(fields.size()));
  for (auto& f : fields) {
    if (f.size() > kMaxSize) return {};
    out.push_back(uint8_t(f.size() >> 8));
    out.push_back(uint8_t(f.size()));
    out.insert(out.end(), f.begin(), f.end());
  }
  if (out.size() > kMaxSize) return {};
  return out;
}

std::optional<AdminMessage> AdminMessage::decode(proto::ByteView w) {
  if (w.size() > kMaxSize || w.size() < 6) return std::nullopt;
  AdminMessage m;
  size_t at = 0;
  m.op = w[at++];
  if ((m.op & 0x7f) == 0) return std::nullopt;
  for (int i = 0; i < 4; ++i) m.id = m.id << 8 | w[at++];
  if (m.is_response()) {
    if (w.size() < 7) return std::nullopt;
    uint8_t s = w[at++];
    if (s > uint8_t(AdminStatus::kNodeLimit)) return std::nullopt;
    m.status = AdminStatus(s);
  }
  size_t count = w[at++];
  if (count > kMaxFields) return std::nullopt;
  for (size_t i = 0; i < count; ++i) {
    if (w.size() - at < 2) return std::nullopt;
    size_t len = size_t(w[at]) << 8 | w[at + 1];
    at += 2;
    if (w.size() - at < len) return std::nullopt;
    m.fields.emplace_back(reinterpret_cast<const char*>(w.data() + at), len);
    at += len;
  }
  if (at != w.size()) return std::nullopt;
  return m;
}

}  // namespace ntm::as
