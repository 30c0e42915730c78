// ntm-admin's side of the AS admin channel (docs/protocol.md §14): a Noise IK handshake to
// the AS's static key, then sealed admin requests, one at a time, each answered or timed out.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "as/admin_message.h"
#include "crypto/session.h"
#include "crypto/static_key.h"
#include "proto/endpoint.h"

namespace ntm::admin {

class AdminClient {
 public:
  /// `timeout` bounds each wait for an answer; a handshake is tried 3 times.
  AdminClient(const crypto::StaticKeyPair& own, const crypto::Key& as_public,
              const proto::Endpoint& as, std::chrono::milliseconds timeout);
  ~AdminClient();
  AdminClient(const AdminClient&) = delete;
  AdminClient& operator=(const AdminClient&) = delete;

  /// Runs the handshake; false with `error` set when the AS does not answer (unreachable, a
  /// wrong AS key, or a rate limit) or a socket error.
  bool connect(std::string& error);
  /// Sends `request` (its id is set here) and returns the AS's response; nullopt with `error`
  /// set when none arrives in time. Not retransmitted: a lost answer is an error, never a
  /// second execution of the request.
  std::optional<as::AdminMessage> call(as::AdminMessage request, std::string& error);

  /// Lower level, for a client that keeps several requests in flight or retransmits one (a
  /// DC's login relay; tests): seals and sends `request` with the ID it carries. False with
  /// `error` set when not connected or the send fails.
  bool send(const as::AdminMessage& request, std::string& error);
  /// The next response in this session within `timeout`, whatever its ID; nullopt if none.
  std::optional<as::AdminMessage> next_response(std::chrono::milliseconds timeout);

 private:
  /// The next datagram from the AS within the timeout (bounded), or nullopt.
  std::optional<proto::Bytes> receive(std::chrono::steady_clock::time_point deadline);

  crypto::StaticKeyPair own_;
  crypto::Key as_public_;
  proto::Endpoint as_;
  std::chrono::milliseconds timeout_;
  int fd_ = -1;
  uint32_t local_index_ = 0, next_id_ = 1;
  std::unique_ptr<crypto::Session> session_;
};

}  // namespace ntm::admin
