#include "link_model.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdio>

namespace ntm::linkemu {

namespace {

// Splits "12.5ms" into 12.5 and "ms". Returns nullopt when there is no leading number.
std::optional<std::pair<double, std::string_view>> split_number(std::string_view text) {
  std::size_t end = 0;
  while (end < text.size() &&
         (std::isdigit(static_cast<unsigned char>(text[end])) || text[end] == '.')) {
    ++end;
  }
  if (end == 0) return std::nullopt;
  double value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + end, value);
  if (ec != std::errc() || ptr != text.data() + end) return std::nullopt;
  return std::make_pair(value, text.substr(end));
}

}  // namespace

std::optional<Nanos> parse_duration(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  double scale;
  if (unit.empty() || unit == "ms") {
    scale = 1e6;
  } else if (unit == "us") {
    scale = 1e3;
  } else if (unit == "ns") {
    scale = 1;
  } else if (unit == "s") {
    scale = 1e9;
  } else {
    return std::nullopt;
  }
  double ns = value * scale;
  if (ns > 3600e9) return std::nullopt;  // an hour of delay is a typo
  return static_cast<Nanos>(std::llround(ns));
}

std::optional<double> parse_probability(std::string_view text) {
  bool percent = !text.empty() && text.back() == '%';
  if (percent) text.remove_suffix(1);
  auto parts = split_number(text);
  if (!parts || !parts->second.empty()) return std::nullopt;
  double p = percent ? parts->first / 100.0 : parts->first;
  if (p < 0.0 || p > 1.0) return std::nullopt;
  return p;
}

std::optional<std::uint64_t> parse_rate(std::string_view text) {
  auto parts = split_number(text);
  if (!parts) return std::nullopt;
  auto [value, unit] = *parts;
  double scale;
  if (unit.empty() || unit == "bit") {
    scale = 1;
  } else if (unit == "kbit") {
    scale = 1e3;
  } else if (unit == "mbit") {
    scale = 1e6;
  } else if (unit == "gbit") {
    scale = 1e9;
  } else {
    return std::nullopt;
  }
  return static_cast<std::uint64_t>(std::llround(value * scale));
}

std::string format_duration(Nanos ns) {
  char buf[32];
  if (ns % 1000000 == 0) {
    std::snprintf(buf, sizeof buf, "%lldms", static_cast<long long>(ns / 1000000));
  } else if (ns % 1000 == 0) {
    std::snprintf(buf, sizeof buf, "%lldus", static_cast<long long>(ns / 1000));
  } else {
    std::snprintf(buf, sizeof buf, "%lldns", static_cast<long long>(ns));
  }
  return buf;
}

std::string LinkParams::apply(std::string_view setting) {
  auto eq = setting.find('=');
  if (eq == std::string_view::npos) return "expected key=value, got '" + std::string(setting) + "'";
  std::string_view key = setting.substr(0, eq);
  std::string_view value = setting.substr(eq + 1);
  auto bad = [&] { return "bad value for " + std::string(key) + ": '" + std::string(value) + "'"; };
  if (key == "delay" || key == "jitter") {
    auto d = parse_duration(value);
    if (!d) return bad();
    (key == "delay" ? delay : jitter) = *d;
  } else if (key == "loss") {
    auto p = parse_probability(value);
    if (!p) return bad();
    loss = *p;
  } else if (key == "rate") {
    auto r = parse_rate(value);
    if (!r) return bad();
    rate_bps = *r;
  } else if (key == "limit") {
    unsigned n = 0;
    auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
    if (ec != std::errc() || ptr != value.data() + value.size() || n == 0) return bad();
    limit = n;
  } else if (key == "reorder") {
    if (value != "0" && value != "1") return bad();
    reorder = value == "1";
  } else if (key == "gemodel") {
    if (value == "0") {
      ge_p = ge_r = 0.0;
      ge_loss_bad = 1.0;
      return {};
    }
    double v[3] = {0.0, 0.0, 1.0};
    std::size_t n = 0, pos = 0;
    while (n < 3 && pos <= value.size()) {
      std::size_t comma = value.find(',', pos);
      if (comma == std::string_view::npos) comma = value.size();
      auto p = parse_probability(value.substr(pos, comma - pos));
      if (!p) return bad();
      v[n++] = *p;
      pos = comma + 1;
    }
    if (n < 2 || pos <= value.size() || v[0] <= 0.0 || v[1] <= 0.0) return bad();
    ge_p = v[0], ge_r = v[1], ge_loss_bad = v[2];
  } else {
    return "unknown setting '" + std::string(key) + "'";
  }
  return {};
}

std::string LinkParams::describe() const {
  char buf[224];
  int n =
      std::snprintf(buf, sizeof buf, "delay=%s jitter=%s loss=%g%% rate=%llu limit=%u reorder=%d",
                    format_duration(delay).c_str(), format_duration(jitter).c_str(), loss * 100.0,
                    static_cast<unsigned long long>(rate_bps), limit, reorder ? 1 : 0);
  if (ge_p > 0.0 && n > 0 && std::size_t(n) < sizeof buf)
    std::snprintf(buf + n, sizeof buf - std::size_t(n), " gemodel=%g%%,%g%%,%g%%", ge_p * 100.0,
                  ge_r * 100.0, ge_loss_bad * 100.0);
  return buf;
}

Link::Link(const LinkParams& params, std::uint64_t seed) : params_(params), rng_(seed) {}

Fate Link::admit(std::uint32_t id, std::uint32_t bytes, Nanos now) {
  ++stats_.received;
  // Draw for loss on every packet, even at loss=0, so a given seed gives the same
  // pattern whatever the other settings are.
  double draw = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
  bool lost = draw < params_.loss;
  if (params_.ge_p > 0.0) {
    double move = std::uniform_real_distribution<double>(0.0, 1.0)(rng_);
    ge_bad_ = ge_bad_ ? move >= params_.ge_r : move < params_.ge_p;
    if (ge_bad_) lost = draw < params_.ge_loss_bad;
  }
  if (lost) {
    ++stats_.lost;
    return Fate::kDrop;
  }
  if (heap_.size() >= params_.limit) {
    ++stats_.overflowed;
    return Fate::kDrop;
  }

  Nanos sent = now;
  if (params_.rate_bps != 0) {
    Nanos start = std::max(now, wire_free_);
    auto serialise = static_cast<Nanos>(static_cast<double>(bytes) * 8e9 /
                                        static_cast<double>(params_.rate_bps));
    wire_free_ = start + serialise;
    sent = wire_free_;
  }
  Nanos delay = params_.delay;
  if (params_.jitter != 0) {
    delay += std::uniform_int_distribution<Nanos>(-params_.jitter, params_.jitter)(rng_);
    delay = std::max<Nanos>(delay, 0);
  }
  Nanos release = sent + delay;
  if (!params_.reorder) release = std::max(release, last_release_);
  last_release_ = std::max(last_release_, release);

  heap_.push_back(Held{release, next_seq_++, id});
  std::push_heap(heap_.begin(), heap_.end(), Later{});
  return Fate::kHold;
}

std::optional<Nanos> Link::next_release() const {
  if (heap_.empty()) return std::nullopt;
  return heap_.front().release;
}

void Link::release_due(Nanos until, std::vector<std::uint32_t>& out) {
  while (!heap_.empty() && heap_.front().release <= until) {
    std::pop_heap(heap_.begin(), heap_.end(), Later{});
    out.push_back(heap_.back().id);
    heap_.pop_back();
    ++stats_.passed;
  }
}

void Link::release_all(std::vector<std::uint32_t>& out) {
  release_due(INT64_MAX, out);
}

}  // namespace ntm::linkemu
