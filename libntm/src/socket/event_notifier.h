// ntm_event_fd(): one eventfd per node that turns readable whenever any ntm socket may have
// changed state. lwIP reports every socket state change (data, send space, accept, error)
// through its netconn callback; we wrap that callback, call lwIP's, then signal the eventfd.
// Signalling is one write(2) per clear() cycle, not per packet: an atomic flag remembers that
// the fd is already readable.
#pragma once

namespace ntm::socket {

/// Creates the eventfd (idempotent). Returns it, or -1.
int event_fd_open();
/// Resets the eventfd to not-readable.
void event_fd_clear();
/// Closes the eventfd (on ntm_stop).
void event_fd_close();
/// Routes lwIP socket `fd`'s netconn events through the notifier (call after socket/accept).
void event_hook_socket(int fd);

}  // namespace ntm::socket
