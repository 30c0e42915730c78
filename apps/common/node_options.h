// Node options shared by the apps: --dc, --dc-key, --name, --state-dir, --bind, --keepalive-ms,
// --rekey-ms, --rekey-messages, --tunnel-timeout-ms, --linger, --start-timeout-ms, --account,
// --password-file, each with an environment fallback (NTM_DC, NTM_DC_KEY, NTM_NAME,
// NTM_STATE_DIR, NTM_BIND, NTM_KEEPALIVE_MS, NTM_REKEY_MS, NTM_REKEY_MESSAGES,
// NTM_TUNNEL_TIMEOUT_MS, NTM_LINGER_MS, NTM_START_TIMEOUT_MS, NTM_ACCOUNT, NTM_PASSWORD_FILE);
// NTM_PASSWORD gives the password itself (never a flag: argv is visible to every user).
#pragma once

#include <boost/program_options.hpp>
#include <cstdio>
#include <optional>
#include <string>

#include "ntm/ntm.h"

namespace ntm::apps {

struct NodeOptions {
  std::string dc, dc_key, name, state_dir, bind;
  std::string account, password_file, password;  ///< password: read from the file or env
  uint32_t keepalive_ms = 0;                     ///< 0 = libntm's default (also for the four below)
  uint32_t rekey_ms = 0, tunnel_timeout_ms = 0;
  uint64_t rekey_messages = 0;
  uint32_t start_timeout_ms = 0;
  uint32_t linger_ms = 0;  ///< ntm_config.stop_linger_ms; 0 = libntm's default
  bool stats = false;

  /// Adds the options to `desc`.
  void add_to(boost::program_options::options_description& desc);
  /// Fills blanks from the environment; false (message on stderr) when one is still missing.
  bool complete(const char* prog);
  /// Fills `cfg` from these options (the strings stay owned by this object).
  void fill(ntm_config& cfg) const;
  /// ntm_start() with these options; prints the error and returns false on failure.
  bool start_node(const char* prog, ntm_config& cfg);
  /// With --stats: notes the gauges (ntm_stats *_open) while the app still holds its sockets,
  /// for the line stop_node() prints. Call it just before closing them.
  void note_gauges();
  /// ntm_stop(); when it reports undelivered data, prints why to stderr and returns false.
  /// With --stats it then prints the "stats ..." line (write_stats): the counters as
  /// ntm_stop() left them, so they include what left during its linger, and the gauges
  /// noted by note_gauges() (or 0 where it was not called).
  bool stop_node(const char* prog);

 private:
  std::optional<ntm_stats> gauges_;
};

/// Writes the node's counters as one line "stats name=value ..." (the names of struct
/// ntm_stats) to `out`; nothing when ntm_get_stats() fails (no node has run).
void write_stats(FILE* out);
/// The same line for counters the caller has.
void write_stats(FILE* out, const ntm_stats& s);

}  // namespace ntm::apps
