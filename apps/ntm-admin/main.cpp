// ntm-admin: administers the NTM servers. This part: accounts at the Account Server.
//
//   ntm-admin [options] key                          this admin's public key (for admin-key)
//   ntm-admin [options] account add NAME [--node-limit N] [--password-file FILE]
//   ntm-admin [options] account del NAME
//   ntm-admin [options] account list
//   ntm-admin [options] account passwd NAME [--password-file FILE]
//   ntm-admin [options] account nodes NAME                the nodes logged in under NAME
//   ntm-admin [options] account release NAME NODEKEY      a node no longer counts for NAME
//
// Exit status: 0 done; 1 the AS refused (the reason on stderr); 2 usage error; 3 the AS did
// not answer. --json prints one JSON document on stdout in every case.
#include <boost/program_options.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>
#include <sstream>

#include "admin_client.h"
#include "as/account_store.h"
#include "crypto/static_key.h"

namespace po = boost::program_options;
using ntm::as::AdminMessage;
using ntm::as::AdminOp;
using ntm::as::AdminStatus;

namespace {

constexpr int kRefused = 1, kUsage = 2, kUnreachable = 3;

struct Globals {
  std::string as = "127.0.0.1:7300", as_key, key_dir;
  bool json = false;
  unsigned timeout_ms = 2000;
};

std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += char(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += char(c);
    }
  }
  return out + "\"";
}

int fail(const Globals& g, int code, const std::string& message) {
  std::cerr << "ntm-admin: " << message << "\n";
  if (g.json) std::cout << "{\"ok\":false,\"error\":" << json_string(message) << "}\n";
  return code;
}

std::optional<std::string> read_password(const std::string& file) {
  std::string line;
  if (file == "-") {
    if (!std::getline(std::cin, line)) return std::nullopt;
  } else {
    std::ifstream f(file);
    if (!f || !std::getline(f, line)) return std::nullopt;
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

std::string iso_time(int64_t unix_seconds) {
  std::time_t t = std::time_t(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

/// Connects to the AS: the admin's key, the AS's key and address from the globals.
std::unique_ptr<ntm::admin::AdminClient> connect(const Globals& g, int& code, std::string& error) {
  auto as_key = ntm::crypto::key_from_base64(g.as_key);
  auto as = ntm::proto::Endpoint::parse(g.as);
  if (!as_key || !as) {
    code = kUsage;
    error = !as ? "--as must be ip:port"
                : "--as-key must be the AS's base64 public key "
                  "(ntm-as --print-public-key)";
    return nullptr;
  }
  auto own = ntm::crypto::load_or_create_key(g.key_dir, "admin.key", error);
  if (!own) {
    code = kUsage;
    return nullptr;
  }
  auto c = std::make_unique<ntm::admin::AdminClient>(*own, *as_key, *as,
                                                     std::chrono::milliseconds(g.timeout_ms));
  if (!c->connect(error)) {
    code = kUnreachable;
    return nullptr;
  }
  return c;
}

/// One request; on success the response, else the exit code is set and the error printed.
std::optional<AdminMessage> request(const Globals& g, ntm::admin::AdminClient& c, AdminOp op,
                                    std::vector<std::string> fields, int& code) {
  AdminMessage m;
  m.op = uint8_t(op);
  m.fields = std::move(fields);
  std::string error;
  auto r = c.call(m, error);
  if (!r) {
    code = fail(g, kUnreachable, error);
    return std::nullopt;
  }
  if (r->status != AdminStatus::kOk) {
    code = fail(g, kRefused, std::string("the AS refused: ") + to_string(r->status));
    return std::nullopt;
  }
  return r;
}

/// `account nodes NAME`: every page of op 0x05, then a table or JSON.
int list_nodes(const Globals& g, ntm::admin::AdminClient& c, const std::string& name) {
  struct Row {
    std::string node, first, last;
  };
  std::vector<Row> rows;
  std::string after;
  int code = 0;
  for (int page = 0; page < 100000; ++page) {  // bounded: 10 nodes per page
    auto r = request(g, c, AdminOp::kAccountNodes, {name, after}, code);
    if (!r) return code;
    if (r->fields.empty() || (r->fields.size() - 1) % 3 != 0)
      return fail(g, kRefused, "malformed node list answer from the AS");
    for (size_t i = 1; i + 2 < r->fields.size(); i += 3)
      rows.push_back({r->fields[i], r->fields[i + 1], r->fields[i + 2]});
    if (r->fields[0].empty() || r->fields[0] == after) break;
    after = r->fields[0];
  }
  auto when = [](const std::string& s) { return iso_time(std::atoll(s.c_str())); };
  if (g.json) {
    std::cout << "{\"ok\":true,\"account\":" << json_string(name) << ",\"nodes\":[";
    for (size_t i = 0; i < rows.size(); ++i)
      std::cout << (i ? "," : "") << "{\"node\":" << json_string(rows[i].node)
                << ",\"first_login\":" << json_string(when(rows[i].first))
                << ",\"last_login\":" << json_string(when(rows[i].last)) << "}";
    std::cout << "]}\n";
  } else {
    std::printf("%-44s  %-20s  %s\n", "NODE", "FIRST LOGIN", "LAST LOGIN");
    for (auto& r : rows)
      std::printf("%-44s  %-20s  %s\n", r.node.c_str(), when(r.first).c_str(),
                  when(r.last).c_str());
  }
  return 0;
}

int account(const Globals& g, const std::vector<std::string>& args) {
  std::string sub, name, node, password_file = "-";
  std::string node_limit;
  po::options_description opts("account options");
  opts.add_options()("node-limit", po::value(&node_limit),
                     "account add: nodes the account may register at once (default: the AS's "
                     "default-node-limit)")(
      "password-file", po::value(&password_file)->default_value("-"),
      "account add/passwd: file whose first line is the password; - = stdin");
  po::options_description hidden;
  hidden.add_options()("sub", po::value(&sub))("name", po::value(&name))("node", po::value(&node));
  po::options_description all;
  all.add(opts).add(hidden);
  po::positional_options_description pos;
  pos.add("sub", 1).add("name", 1).add("node", 1);
  try {
    po::variables_map vm;
    po::store(po::command_line_parser(args).options(all).positional(pos).run(), vm);
    po::notify(vm);
  } catch (const po::error& e) {
    return fail(g, kUsage, e.what());
  }
  bool needs_name = sub == "add" || sub == "del" || sub == "passwd" || sub == "nodes";
  bool needs_node = sub == "release";
  if ((sub != "list" && !needs_name && !needs_node) || (needs_name && name.empty()) ||
      (sub == "list" && !name.empty()) || (needs_node != !node.empty()) ||
      (needs_node && name.empty())) {
    std::cerr << "usage: ntm-admin [options] account add|del|passwd|nodes NAME | account list |"
                 " account release NAME NODEKEY\n"
              << opts << "\n";
    return kUsage;
  }
  if (needs_node && !ntm::crypto::key_from_base64(node))
    return fail(g, kUsage, "NODEKEY must be a node's base64 public key (as `account nodes` shows)");
  std::string password;
  if (sub == "add" || sub == "passwd") {
    auto p = read_password(password_file);
    if (!p) return fail(g, kUsage, "no password on the first line of " + password_file);
    password = *p;
    // The AS refuses others with a bare "bad request": say why before asking it.
    if (!ntm::as::valid_password(password))
      return fail(g, kUsage, "a password is 8 to 256 bytes long");
  }
  int code = 0;
  std::string error;
  auto c = connect(g, code, error);
  if (!c) return fail(g, code, error);
  if (sub == "add") {
    if (!request(g, *c, AdminOp::kAccountAdd, {name, password, node_limit}, code)) return code;
  } else if (sub == "del") {
    if (!request(g, *c, AdminOp::kAccountDel, {name}, code)) return code;
  } else if (sub == "passwd") {
    if (!request(g, *c, AdminOp::kAccountPasswd, {name, password}, code)) return code;
  } else if (sub == "release") {
    if (!request(g, *c, AdminOp::kNodeRelease, {name, node}, code)) return code;
  } else if (sub == "nodes") {
    return list_nodes(g, *c, name);
  } else {
    struct Row {
      std::string name, limit, created;
    };
    std::vector<Row> rows;
    std::string after;
    for (int page = 0; page < 100000; ++page) {  // bounded: 10 accounts per page
      auto r = request(g, *c, AdminOp::kAccountList, {after}, code);
      if (!r) return code;
      if (r->fields.empty() || (r->fields.size() - 1) % 3 != 0)
        return fail(g, kRefused, "malformed list answer from the AS");
      for (size_t i = 1; i + 2 < r->fields.size(); i += 3)
        rows.push_back({r->fields[i], r->fields[i + 1], r->fields[i + 2]});
      after = r->fields[0];
      if (after.empty()) break;
    }
    if (g.json) {
      std::cout << "{\"ok\":true,\"accounts\":[";
      for (size_t i = 0; i < rows.size(); ++i)
        std::cout << (i ? "," : "") << "{\"name\":" << json_string(rows[i].name)
                  << ",\"node_limit\":" << std::atol(rows[i].limit.c_str())
                  << ",\"created\":" << json_string(iso_time(std::atoll(rows[i].created.c_str())))
                  << "}";
      std::cout << "]}\n";
    } else {
      size_t w = 4;
      for (auto& r : rows) w = std::max(w, r.name.size());
      std::printf("%-*s  %10s  %s\n", int(w), "NAME", "NODE LIMIT", "CREATED");
      for (auto& r : rows)
        std::printf("%-*s  %10s  %s\n", int(w), r.name.c_str(), r.limit.c_str(),
                    iso_time(std::atoll(r.created.c_str())).c_str());
    }
    return 0;
  }
  if (sub == "release") {
    if (g.json)
      std::cout << "{\"ok\":true,\"account\":" << json_string(name)
                << ",\"node\":" << json_string(node) << ",\"action\":\"release\"}\n";
    else
      std::cout << "node " << node << " of account " << name << " released\n";
    return 0;
  }
  const char* done = sub == "add" ? "added" : sub == "del" ? "deleted" : "password changed";
  if (g.json)
    std::cout << "{\"ok\":true,\"account\":" << json_string(name) << ",\"action\":\"" << sub
              << "\"}\n";
  else
    std::cout << "account " << name << " " << done << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Globals g;
  const char* home = std::getenv("HOME");
  g.key_dir = std::string(home ? home : ".") + "/.config/ntm-admin";
  if (const char* e = std::getenv("NTM_AS")) g.as = e;
  if (const char* e = std::getenv("NTM_AS_KEY")) g.as_key = e;
  if (const char* e = std::getenv("NTM_ADMIN_KEY_DIR")) g.key_dir = e;
  std::string command;
  po::options_description global("Options (before the command)");
  global.add_options()("help,h", "show this help")("as", po::value(&g.as)->default_value(g.as),
                                                   "the AS's admin endpoint ip:port (env NTM_AS)")(
      "as-key", po::value(&g.as_key), "the AS's public key, base64 (env NTM_AS_KEY)")(
      "key-dir", po::value(&g.key_dir)->default_value(g.key_dir),
      "directory of this admin's key, admin.key (env NTM_ADMIN_KEY_DIR)")(
      "json", po::bool_switch(&g.json), "print JSON instead of text")(
      "timeout-ms", po::value(&g.timeout_ms)->default_value(g.timeout_ms),
      "wait this long for each answer of the AS");
  po::options_description hidden;
  hidden.add_options()("command", po::value(&command))("args",
                                                       po::value<std::vector<std::string>>());
  po::options_description all;
  all.add(global).add(hidden);
  po::positional_options_description pos;
  pos.add("command", 1).add("args", -1);
  po::variables_map vm;
  std::vector<std::string> rest;
  try {
    auto parsed =
        po::command_line_parser(argc, argv).options(all).positional(pos).allow_unregistered().run();
    po::store(parsed, vm);
    po::notify(vm);
    // Everything from the command on belongs to the command (its own options included).
    rest = po::collect_unrecognized(parsed.options, po::include_positional);
  } catch (const po::error& e) {
    return fail(g, kUsage, e.what());
  }
  if (vm.count("help") || command.empty()) {
    std::cout << "Usage: ntm-admin [options] <command> [args]\n\n"
                 "Commands:\n"
                 "  key                                   print this admin's public key (the "
                 "AS lists it as admin-key)\n"
                 "  account add NAME [--node-limit N] [--password-file FILE]\n"
                 "  account del NAME\n"
                 "  account list\n"
                 "  account passwd NAME [--password-file FILE]\n"
                 "  account nodes NAME                    the nodes logged in under NAME\n"
                 "  account release NAME NODEKEY          NODEKEY no longer counts against "
                 "NAME's node limit\n\n"
                 "Passwords are read from the first line of --password-file (default: stdin).\n"
                 "Exit status: 0 done, 1 refused by the AS, 2 usage, 3 no answer from the AS.\n\n"
              << global << "\n";
    return command.empty() && !vm.count("help") ? kUsage : 0;
  }
  if (!rest.empty() && rest.front() == command) rest.erase(rest.begin());
  if (command == "key") {
    std::string error;
    auto own = ntm::crypto::load_or_create_key(g.key_dir, "admin.key", error);
    if (!own) return fail(g, kUsage, error);
    std::string pub = ntm::crypto::key_to_base64(own->public_key);
    if (g.json)
      std::cout << "{\"ok\":true,\"public_key\":" << json_string(pub) << "}\n";
    else
      std::cout << pub << "\n";
    return 0;
  }
  if (command == "account") return account(g, rest);
  return fail(g, kUsage, "unknown command '" + command + "' (try --help)");
}
