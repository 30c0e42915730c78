// A stand-in for libFuzzer's main() where libFuzzer is not available (gcc builds, CI):
// runs LLVMFuzzerTestOneInput on every seed file, then on a bounded number of deterministic
// mutations of them. Not coverage-guided — it keeps the targets building and their invariants
// checked on every test run; the real fuzzing is the -DNTM_FUZZ=ON build with clang.
//
//   fuzz_<target> [--mutations N] [--seed S] [--max-len L] PATH...
//
// PATH is a seed file or a directory of them (fuzz/corpus/<target>/); a single crash file
// from libFuzzer reproduces with "fuzz_<target> crash-..." and --mutations 0. When an input
// crashes, its bytes are written to ./standalone-crash-<target> before the process dies.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);

namespace {

using Input = std::vector<uint8_t>;

// The input being run, for the crash handler (async-signal-safe: no allocation there).
const uint8_t* g_current = nullptr;
size_t g_current_size = 0;
char g_crash_path[256] = "standalone-crash";

void on_crash(int sig) {
  int fd = ::open(g_crash_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) {
    if (g_current_size && ::write(fd, g_current, g_current_size) < 0) {
    }
    ::close(fd);
  }
  static const char msg[] = "standalone driver: input that crashed written to ";
  if (::write(2, msg, sizeof msg - 1) < 0 || ::write(2, g_crash_path, strlen(g_crash_path)) < 0 ||
      ::write(2, "\n", 1) < 0) {
  }
  signal(sig, SIG_DFL);
  raise(sig);
}

void run(const Input& in) {
  g_current = in.data();
  g_current_size = in.size();
  LLVMFuzzerTestOneInput(in.empty() ? nullptr : in.data(), in.size());
}

bool read_file(const std::string& path, Input& out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return false;
  out.assign(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
  return true;
}

void collect(const std::string& path, std::vector<std::string>& files) {
  struct stat st;
  if (stat(path.c_str(), &st) != 0) {
    std::fprintf(stderr, "standalone driver: cannot open %s\n", path.c_str());
    std::exit(2);
  }
  if (!S_ISDIR(st.st_mode)) {
    files.push_back(path);
    return;
  }
  DIR* d = opendir(path.c_str());
  std::vector<std::string> names;
  while (dirent* e = d ? readdir(d) : nullptr)
    if (e->d_name[0] != '.') names.push_back(e->d_name);
  if (d) closedir(d);
  std::sort(names.begin(), names.end());  // the same order, so the same mutations, every run
  for (auto& n : names) collect(path + "/" + n, files);
}

/// xorshift64*: small, fast, and the same sequence on every platform.
class Rng {
 public:
  explicit Rng(uint64_t seed) : s_(seed ? seed : 0x9e3779b97f4a7c15ull) {}
  uint64_t next() {
    s_ ^= s_ >> 12;
    s_ ^= s_ << 25;
    s_ ^= s_ >> 27;
    return s_ * 0x2545f4914f6cdd1dull;
  }
  size_t below(size_t n) { return n ? size_t(next() % n) : 0; }

 private:
  uint64_t s_;
};

/// One to four edits of the kinds libFuzzer's default mutators make.
Input mutate(const std::vector<Input>& seeds, Rng& rng, size_t max_len) {
  static const uint8_t kInteresting[] = {0,    1,    2,    4,    6,    7,    0x10, 0x13,
                                         0x20, 0x3f, 0x40, 0x7f, 0x80, 0xfe, 0xff};
  Input in = seeds.empty() ? Input{} : seeds[rng.below(seeds.size())];
  int edits = 1 + int(rng.below(4));
  for (int e = 0; e < edits; ++e) {
    size_t n = in.size();
    switch (rng.below(10)) {
      case 0:  // flip one bit
        if (n) in[rng.below(n)] ^= uint8_t(1u << rng.below(8));
        break;
      case 1:  // random byte
        if (n) in[rng.below(n)] = uint8_t(rng.next());
        break;
      case 2:  // interesting byte
        if (n) in[rng.below(n)] = kInteresting[rng.below(sizeof kInteresting)];
        break;
      case 3: {  // interesting big-endian u16 (lengths, types)
        if (n < 2) break;
        size_t at = rng.below(n - 1);
        uint16_t v = rng.below(2) ? uint16_t(kInteresting[rng.below(sizeof kInteresting)])
                                  : uint16_t(n - at + rng.below(5) - 2);
        in[at] = uint8_t(v >> 8);
        in[at + 1] = uint8_t(v);
        break;
      }
      case 4: {  // insert random bytes
        size_t at = rng.below(n + 1), count = 1 + rng.below(8);
        Input add(count);
        for (auto& b : add) b = uint8_t(rng.next());
        in.insert(in.begin() + long(at), add.begin(), add.end());
        break;
      }
      case 5: {  // erase a range
        if (!n) break;
        size_t at = rng.below(n), count = 1 + rng.below(std::min<size_t>(n - at, 16));
        in.erase(in.begin() + long(at), in.begin() + long(at + count));
        break;
      }
      case 6: {  // copy a chunk over another place
        if (n < 2) break;
        size_t from = rng.below(n), to = rng.below(n);
        size_t count = 1 + rng.below(std::min(n - from, n - to));
        std::memmove(&in[to], &in[from], count);
        break;
      }
      case 7:  // truncate
        in.resize(rng.below(n + 1));
        break;
      case 8: {  // splice with another seed
        if (seeds.empty()) break;
        const Input& other = seeds[rng.below(seeds.size())];
        size_t cut = rng.below(n + 1), from = rng.below(other.size() + 1);
        in.resize(cut);
        in.insert(in.end(), other.begin() + long(from), other.end());
        break;
      }
      default: {  // duplicate a chunk (repeated attributes, repeated datagrams)
        if (!n) break;
        size_t from = rng.below(n), count = 1 + rng.below(std::min<size_t>(n - from, 64));
        Input chunk(in.begin() + long(from), in.begin() + long(from + count));
        in.insert(in.begin() + long(rng.below(n + 1)), chunk.begin(), chunk.end());
        break;
      }
    }
  }
  if (in.size() > max_len) in.resize(max_len);
  return in;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  uint64_t mutations = 0, seed = 1;
  size_t max_len = 4096;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--mutations" && i + 1 < argc) {
      mutations = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--seed" && i + 1 < argc) {
      seed = std::strtoull(argv[++i], nullptr, 10);
    } else if (a == "--max-len" && i + 1 < argc) {
      max_len = std::strtoull(argv[++i], nullptr, 10);
    } else if (a.rfind("--", 0) == 0) {
      std::fprintf(stderr, "usage: %s [--mutations N] [--seed S] [--max-len L] PATH...\n", argv[0]);
      return 2;
    } else {
      collect(a, files);
    }
  }
  std::string name = argv[0];
  name = name.substr(name.find_last_of('/') + 1);
  std::snprintf(g_crash_path, sizeof g_crash_path, "standalone-crash-%s", name.c_str());
  for (int sig : {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, on_crash);

  auto start = std::chrono::steady_clock::now();
  std::vector<Input> seeds;
  for (auto& f : files) {
    Input in;
    if (!read_file(f, in)) {
      std::fprintf(stderr, "standalone driver: cannot read %s\n", f.c_str());
      return 2;
    }
    run(in);
    seeds.push_back(std::move(in));
  }
  run({});  // the empty input is always worth one run
  Rng rng(seed);
  for (uint64_t i = 0; i < mutations; ++i) run(mutate(seeds, rng, max_len));
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                  start)
                .count();
  std::printf("%s: %zu seed inputs and %llu mutations ran without a crash in %lld ms\n",
              name.c_str(), seeds.size(), static_cast<unsigned long long>(mutations),
              static_cast<long long>(ms));
  return 0;
}
