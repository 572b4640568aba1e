#include "config/config.h"

#include <grp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <span>
#include <sstream>
#include <thread>

#include "shm/ring.h"

namespace ingress::config {

Error::Error(const std::string& file, int line, int column, const std::string& key,
             const std::string& what)
    : std::runtime_error(file + ":" +
                         (line ? std::to_string(line) + ":" + std::to_string(column) + ":" : "") +
                         (key.empty() ? "" : " " + key + ":") + " " + what),
      file_(file),
      key_(key),
      line_(line),
      column_(column) {}

std::size_t Config::workers() const noexcept {
    std::size_t n = 0;
    for (const auto& i : interfaces) n += i.queues.size();
    return n;
}

namespace {

// Levenshtein distance, for "did you mean".
std::size_t distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j)
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] != b[j - 1])});
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

class Reader {
public:
    Reader(std::string path, const LoadOptions& opt) : path_(std::move(path)), opt_(opt) {}

    [[noreturn]] void fail(const YAML::Node& n, const std::string& key,
                           const std::string& what) const {
        const YAML::Mark m = n.Mark();
        if (m.is_null()) throw Error(path_, 0, 0, key, what);
        throw Error(path_, m.line + 1, m.column + 1, key, what);
    }

    // Every key of `n` must be in `allowed`.
    void keys(const YAML::Node& n, const std::string& at,
              std::initializer_list<const char*> allowed) const {
        keys(n, at, std::span(allowed.begin(), allowed.size()));
    }
    void keys(const YAML::Node& n, const std::string& at,
              std::span<const char* const> allowed) const {
        if (!n.IsMap()) fail(n, at, "expected a mapping of keys");
        for (const auto& kv : n) {
            std::string k = kv.first.as<std::string>();
            bool ok = false;
            std::string best;
            std::size_t best_d = 3;
            for (const char* a : allowed) {
                if (k == a) ok = true;
                std::size_t d = distance(k, a);
                if (d < best_d) {
                    best_d = d;
                    best = a;
                }
            }
            if (!ok)
                fail(kv.first, join(at, k),
                     "unknown key" +
                         (best.empty() ? std::string() : " (did you mean '" + best + "'?)"));
        }
    }

    static std::string join(const std::string& at, const std::string& k) {
        return at.empty() ? k : at + "." + k;
    }

    uint64_t uint(const YAML::Node& n, const std::string& key, uint64_t lo, uint64_t hi) const {
        if (!n.IsScalar()) fail(n, key, "expected a number");
        const std::string& s = n.Scalar();
        uint64_t v = 0;
        bool octal = s.size() > 1 && s[0] == '0';
        if (s.empty() || s.size() > 20) fail(n, key, "expected a number, got '" + s + "'");
        for (char c : s) {
            if (c < '0' || c > (octal ? '7' : '9'))
                fail(n, key, "expected a number, got '" + s + "'");
            v = v * (octal ? 8 : 10) + static_cast<uint64_t>(c - '0');
        }
        if (v < lo || v > hi)
            fail(n, key,
                 std::to_string(v) + " is out of range " + std::to_string(lo) + ".." +
                     std::to_string(hi));
        return v;
    }

    bool boolean(const YAML::Node& n, const std::string& key) const {
        if (n.IsScalar()) {
            const std::string& s = n.Scalar();
            if (s == "true" || s == "yes" || s == "on" || s == "1") return true;
            if (s == "false" || s == "no" || s == "off" || s == "0") return false;
        }
        fail(n, key, "expected true or false");
    }

    std::string string(const YAML::Node& n, const std::string& key) const {
        if (!n.IsScalar() || n.Scalar().empty()) fail(n, key, "expected a non-empty string");
        return n.Scalar();
    }

    template <class E>
    E choice(const YAML::Node& n, const std::string& key,
             std::initializer_list<std::pair<const char*, E>> options) const {
        std::string s = string(n, key);
        std::string all;
        for (const auto& [name, v] : options) {
            if (s == name) return v;
            all += all.empty() ? name : std::string(", ") + name;
        }
        fail(n, key, "'" + s + "' is not one of: " + all);
    }

    ipv4::IfAddr prefix(const YAML::Node& n, const std::string& key, bool host_bits_ok) const {
        std::string s = string(n, key);
        auto slash = s.find('/');
        auto a = wire::parse_ipv4(s.substr(0, slash));
        if (!a || slash == std::string::npos)
            fail(n, key, "'" + s + "' is not an address like 198.18.0.1/24");
        std::string len_s = s.substr(slash + 1);
        if (len_s.empty() || len_s.size() > 2 ||
            !std::all_of(len_s.begin(), len_s.end(), ::isdigit) || std::stoi(len_s) > 32)
            fail(n, key, "'" + s + "': the prefix length must be 0..32");
        auto len = static_cast<uint8_t>(std::stoi(len_s));
        if (!host_bits_ok && len < 32 && (*a & (0xffffffffu >> len)))
            fail(n, key,
                 "'" + s + "' has host bits set (did you mean " +
                     wire::ipv4_str(*a & ~(0xffffffffu >> len)) + "/" + len_s + "?)");
        return {.addr = *a, .prefix_len = len};
    }

    void devconf(const YAML::Node& n, const std::string& at, ipv4::DevConf& c) const {
        keys(n, at, ipv4::kDevConfKnobs);
        for (const auto& kv : n) {
            std::string k = kv.first.as<std::string>();
            uint64_t hi = k == "rp_filter" ? 2 : 1;
            unsigned v = static_cast<unsigned>(uint(kv.second, join(at, k), 0, hi));
            if (!c.set(k, v)) fail(kv.second, join(at, k), "not accepted");
        }
    }

    const std::string& path() const { return path_; }
    const LoadOptions& opt() const { return opt_; }

private:
    std::string path_;
    const LoadOptions& opt_;
};

// interfaces[].queues: a count (0..N-1) or a list of queue ids.
void read_queues(const Reader& r, const YAML::Node& q, const std::string& at, InterfaceConfig& i) {
    const bool dpdk = i.driver == Driver::kDpdk;
    i.queues.clear();
    if (q.IsScalar()) {
        uint64_t count = r.uint(q, at + ".queues", 1, 64);
        for (uint16_t k = 0; k < count; ++k) i.queues.push_back(k);
    } else if (q.IsSequence()) {
        std::set<uint64_t> seen;
        for (std::size_t k = 0; k < q.size(); ++k) {
            std::string key = at + ".queues[" + std::to_string(k) + "]";
            uint64_t v = r.uint(q[k], key, 0, 1023);
            if (!seen.insert(v).second)
                r.fail(q[k], key, "queue " + std::to_string(v) + " listed twice");
            i.queues.push_back(static_cast<uint16_t>(v));
        }
        if (i.queues.empty()) r.fail(q, at + ".queues", "at least one queue");
    } else {
        r.fail(q, at + ".queues", "a count or a list of queue ids");
    }
    // DPDK configures queues 0..N-1 and RSS spreads over all of them: each needs a worker.
    for (std::size_t k = 0; dpdk && k < i.queues.size(); ++k)
        if (i.queues[k] != k)
            r.fail(q, at + ".queues", "a dpdk interface takes a count (queues 0..N-1)");
}

// A list of interface addresses like [198.18.0.1/24].
void read_addresses(const Reader& r, const YAML::Node& a, const std::string& key,
                    std::vector<ipv4::IfAddr>& out) {
    if (!a.IsSequence()) r.fail(a, key, "a list of addresses like [198.18.0.1/24]");
    for (std::size_t k = 0; k < a.size(); ++k) {
        ipv4::IfAddr ia = r.prefix(a[k], key + "[" + std::to_string(k) + "]", true);
        if (wire::ipv4_is_multicast(ia.addr) || wire::ipv4_is_lbcast(ia.addr) || ia.addr == 0 ||
            ia.prefix_len == 0)
            r.fail(a[k], key + "[" + std::to_string(k) + "]", "not a usable interface address");
        out.push_back(ia);
    }
}

// interfaces[].idle: the idle worker's timings, each where the interface's poll_mode and
// driver use it (refused elsewhere, as driver-specific keys are): spin_us in adaptive mode;
// the micro-sleep's caps and deep_after_ms on dpdk ports (a PMD without rx interrupts; an
// AF_XDP worker sleeps in poll() on its socket). Given in us and ms, kept in ns.
void read_idle(const Reader& r, const YAML::Node& n, const std::string& at, InterfaceConfig& i) {
    r.keys(n, at, {"spin_us", "backoff_max_us", "deep_after_ms", "deep_backoff_max_us"});
    if (i.poll_mode == PollMode::kBusy)
        r.fail(n, at, "applies to poll_mode adaptive or interrupt only (busy never sleeps)");
    if (auto v = n["spin_us"]) {
        if (i.poll_mode != PollMode::kAdaptive)
            r.fail(v, at + ".spin_us", "applies to poll_mode adaptive only");
        i.idle.spin_ns = r.uint(v, at + ".spin_us", 1, kIdleSpinMaxUs) * 1000;
    }
    for (const char* k : {"backoff_max_us", "deep_after_ms", "deep_backoff_max_us"})
        if (i.driver != Driver::kDpdk && n[k])
            r.fail(n[k], at + "." + k,
                   "applies to driver dpdk only (an af_xdp worker sleeps in poll() on its "
                   "socket, no micro-sleep)");
    if (auto v = n["backoff_max_us"]) {
        i.idle.backoff_max_ns =
            r.uint(v, at + ".backoff_max_us", kIdleSleepMinUs, kIdleSleepMaxUs) * 1000;
        // Unsaid, the deep-idle cap is at least the cap.
        i.idle.deep_backoff_max_ns = std::max(i.idle.deep_backoff_max_ns, i.idle.backoff_max_ns);
    }
    if (auto v = n["deep_after_ms"])
        i.idle.deep_idle_ns = r.uint(v, at + ".deep_after_ms", 1, kIdleDeepAfterMaxMs) * 1'000'000;
    if (auto v = n["deep_backoff_max_us"]) {
        const std::string key = at + ".deep_backoff_max_us";
        const uint64_t us = r.uint(v, key, kIdleSleepMinUs, kIdleSleepMaxUs);
        if (us * 1000 < i.idle.backoff_max_ns)
            r.fail(v, key,
                   std::to_string(us) + " is below backoff_max_us (" +
                       std::to_string(i.idle.backoff_max_ns / 1000) +
                       "): deep idle sleeps at least as long");
        i.idle.deep_backoff_max_ns = us * 1000;
    }
}

void read_interface(const Reader& r, const YAML::Node& n, const std::string& at,
                    InterfaceConfig& i) {
    r.keys(n, at,
           {"name", "driver", "queues", "xdp_mode", "zero_copy", "hw_timestamps", "busy_poll",
            "poll_mode", "idle", "capture_all", "addresses", "conf", "vlans", "device", "exception",
            "rss"});
    if (!n["name"]) r.fail(n, at + ".name", "missing: every interface needs a name");
    i.name = r.string(n["name"], at + ".name");
    if (i.name.size() > 15)
        r.fail(n["name"], at + ".name", "'" + i.name + "' is longer than IFNAMSIZ-1 (15)");
    if (auto d = n["driver"])
        i.driver = r.choice<Driver>(d, at + ".driver",
                                    {{"af_xdp", Driver::kAfXdp}, {"dpdk", Driver::kDpdk}});
    const bool dpdk = i.driver == Driver::kDpdk;
    // A DPDK port's name is a label: a NIC bound to vfio-pci has no kernel interface.
    if (!dpdk && r.opt().interface_exists && !r.opt().interface_exists(i.name))
        r.fail(n["name"], at + ".name", "no interface '" + i.name + "' on this host");
    for (const char* k : {"xdp_mode", "zero_copy", "hw_timestamps", "busy_poll"})
        if (dpdk && n[k]) r.fail(n[k], at + "." + k, "applies to driver af_xdp only");
    for (const char* k : {"device", "exception", "rss"})
        if (!dpdk && n[k]) r.fail(n[k], at + "." + k, "applies to driver dpdk only");
    if (dpdk) {
        if (!n["device"])
            r.fail(n, at + ".device",
                   "missing: a dpdk interface needs a device (PCI address or vdev)");
        i.device = r.string(n["device"], at + ".device");
        i.exception = n["exception"] ? r.string(n["exception"], at + ".exception") : i.name + "-x";
        if (i.exception.size() > 15)
            r.fail(n["exception"] ? n["exception"] : n["name"], at + ".exception",
                   "'" + i.exception +
                       "' is longer than IFNAMSIZ-1 (15); name the TAP with `exception:`");
        if (auto s = n["rss"])
            i.rss = r.choice<Rss>(s, at + ".rss", {{"ip", Rss::kIp}, {"ip-udp", Rss::kIpUdp}});
    }
    if (auto q = n["queues"]) read_queues(r, q, at, i);
    if (auto m = n["xdp_mode"])
        i.xdp_mode = r.choice<XdpMode>(m, at + ".xdp_mode",
                                       {{"native", XdpMode::kNative}, {"skb", XdpMode::kSkb}});
    if (auto z = n["zero_copy"])
        i.zero_copy = r.choice<ZeroCopy>(
            z, at + ".zero_copy",
            {{"auto", ZeroCopy::kAuto}, {"on", ZeroCopy::kOn}, {"off", ZeroCopy::kOff}});
    if (auto h = n["hw_timestamps"])
        i.hw_timestamps = r.choice<HwTimestamps>(
            h, at + ".hw_timestamps", {{"auto", HwTimestamps::kAuto}, {"off", HwTimestamps::kOff}});
    if (auto b = n["busy_poll"]) i.busy_poll = r.boolean(b, at + ".busy_poll");
    if (auto p = n["poll_mode"])
        i.poll_mode = r.choice<PollMode>(p, at + ".poll_mode",
                                         {{"busy", PollMode::kBusy},
                                          {"adaptive", PollMode::kAdaptive},
                                          {"interrupt", PollMode::kInterrupt}});
    if (auto d = n["idle"]) read_idle(r, d, at + ".idle", i);
    if (auto c = n["capture_all"]) i.capture_all = r.boolean(c, at + ".capture_all");
    if (auto a = n["addresses"]) read_addresses(r, a, at + ".addresses", i.addresses);
    if (auto c = n["conf"]) r.devconf(c, at + ".conf", i.conf);
    if (auto v = n["vlans"]) {
        if (!v.IsSequence()) r.fail(v, at + ".vlans", "a list of VLAN sub-interfaces");
        std::set<uint64_t> ids;
        for (std::size_t k = 0; k < v.size(); ++k) {
            std::string vat = at + ".vlans[" + std::to_string(k) + "]";
            r.keys(v[k], vat, {"id", "addresses", "conf"});
            if (!v[k]["id"]) r.fail(v[k], vat + ".id", "missing: every VLAN needs an id");
            VlanConfig vc;
            vc.id = static_cast<uint16_t>(r.uint(v[k]["id"], vat + ".id", 1, 4094));
            if (!ids.insert(vc.id).second)
                r.fail(v[k]["id"], vat + ".id", "VLAN " + std::to_string(vc.id) + " listed twice");
            if (auto a = v[k]["addresses"]) read_addresses(r, a, vat + ".addresses", vc.addresses);
            if (auto c = v[k]["conf"]) r.devconf(c, vat + ".conf", vc.conf);
            i.vlans.push_back(std::move(vc));
        }
    }
}

// interfaces: each read, names and addresses unique across the file.
void read_interfaces(const Reader& r, const YAML::Node& root, Config& c) {
    const YAML::Node ifs = root["interfaces"];
    if (!ifs || !ifs.IsSequence() || ifs.size() == 0)
        r.fail(ifs ? ifs : root, "interfaces", "at least one interface is needed");
    std::set<std::string> names;
    std::map<uint64_t, std::string> addr_owner;
    for (std::size_t k = 0; k < ifs.size(); ++k) {
        std::string at = "interfaces[" + std::to_string(k) + "]";
        InterfaceConfig ic;
        read_interface(r, ifs[k], at, ic);
        if (!names.insert(ic.name).second)
            r.fail(ifs[k]["name"], at + ".name", "interface '" + ic.name + "' listed twice");
        auto claim = [&](const ipv4::IfAddr& a, const YAML::Node& where, const std::string& key,
                         const std::string& owner) {
            auto [it, fresh] = addr_owner.emplace(a.addr, owner);
            if (!fresh)
                r.fail(where, key,
                       wire::ipv4_str(a.addr) + " is already an address of " + it->second);
        };
        for (std::size_t j = 0; j < ic.addresses.size(); ++j)
            claim(ic.addresses[j], ifs[k]["addresses"][j],
                  at + ".addresses[" + std::to_string(j) + "]", ic.name);
        for (std::size_t v = 0; v < ic.vlans.size(); ++v)
            for (std::size_t j = 0; j < ic.vlans[v].addresses.size(); ++j)
                claim(ic.vlans[v].addresses[j], ifs[k]["vlans"][v]["addresses"][j],
                      at + ".vlans[" + std::to_string(v) + "].addresses[" + std::to_string(j) + "]",
                      ic.name + "." + std::to_string(ic.vlans[v].id));
        c.interfaces.push_back(std::move(ic));
    }
}

// A table id: local, main, default or 1..2^32-1.
uint32_t read_table(const Reader& r, const YAML::Node& n, const std::string& key) {
    uint32_t id = 0;
    if (!ipv4::parse_table(r.string(n, key), id))
        r.fail(n, key,
               "'" + n.Scalar() + "' is not a table (local, main, default or 1..4294967295)");
    return id;
}

// routes: static routes, each naming a configured interface or VLAN, or lo.
void read_routes(const Reader& r, const YAML::Node& rs, Config& c) {
    if (!rs.IsSequence()) r.fail(rs, "routes", "a list of routes");
    for (std::size_t k = 0; k < rs.size(); ++k) {
        std::string at = "routes[" + std::to_string(k) + "]";
        r.keys(rs[k], at, {"prefix", "type", "dev", "via_gateway", "table"});
        if (!rs[k]["prefix"]) r.fail(rs[k], at + ".prefix", "missing");
        ipv4::IfAddr p = r.prefix(rs[k]["prefix"], at + ".prefix", false);
        RouteEntry e{.prefix = p.addr, .prefix_len = p.prefix_len};
        if (auto t = rs[k]["type"])
            e.type = r.choice<ipv4::RouteType>(t, at + ".type",
                                               {{"unicast", ipv4::RouteType::kUnicast},
                                                {"local", ipv4::RouteType::kLocal},
                                                {"broadcast", ipv4::RouteType::kBroadcast},
                                                {"blackhole", ipv4::RouteType::kBlackhole},
                                                {"unreachable", ipv4::RouteType::kUnreachable},
                                                {"prohibit", ipv4::RouteType::kProhibit},
                                                {"throw", ipv4::RouteType::kThrow}});
        if (auto d = rs[k]["dev"]) {
            e.dev = r.string(d, at + ".dev");
            bool known = e.dev == "lo";
            for (const auto& i : c.interfaces) {
                known |= e.dev == i.name;
                for (const auto& v : i.vlans) known |= e.dev == i.name + "." + std::to_string(v.id);
            }
            if (!known)
                r.fail(d, at + ".dev", "no interface '" + e.dev + "' in this configuration");
        }
        if (e.type == ipv4::RouteType::kUnicast && e.dev.empty())
            r.fail(rs[k], at + ".dev", "a unicast route needs a dev");
        if (auto g = rs[k]["via_gateway"]) e.via_gateway = r.boolean(g, at + ".via_gateway");
        if (auto t = rs[k]["table"]) e.table = read_table(r, t, at + ".table");
        c.routes.push_back(e);
    }
}

// A number in decimal or 0x hexadecimal (`ip rule` writes marks and tos in hex).
// `s` is `n`'s text or a part of it.
uint64_t read_number(const Reader& r, const YAML::Node& n, const std::string& key, uint64_t hi,
                     const std::string& s) {
    uint64_t v = 0;
    const bool hex = s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X');
    auto [p, ec] = std::from_chars(s.data() + (hex ? 2 : 0), s.data() + s.size(), v, hex ? 16 : 10);
    if (ec != std::errc() || p != s.data() + s.size())
        r.fail(n, key, "expected a number (decimal or 0x hex), got '" + s + "'");
    if (v > hi) r.fail(n, key, s + " is out of range 0.." + std::to_string(hi));
    return v;
}

// A port or a range: 53, "1000-2000", or "0x700/0xff00" (value/mask).
void read_ports(const Reader& r, const YAML::Node& n, const std::string& key, ipv4::PortRange& pr,
                uint16_t& mask) {
    const std::string s = r.string(n, key);
    auto num = [&](std::string_view t) {
        unsigned v = 0;
        const bool hex = t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X');
        auto [p, ec] =
            std::from_chars(t.data() + (hex ? 2 : 0), t.data() + t.size(), v, hex ? 16 : 10);
        if (ec != std::errc() || p != t.data() + t.size() || v == 0 || v > 65535)
            r.fail(n, key,
                   "'" + s + "' is not a port (1..65535), a range like 1000-2000 or value/mask");
        return static_cast<uint16_t>(v);
    };
    if (auto slash = s.find('/'); slash != std::string::npos) {
        pr.start = pr.end = num(std::string_view(s).substr(0, slash));
        mask = num(std::string_view(s).substr(slash + 1));
    } else if (auto dash = s.find('-'); dash != std::string::npos) {
        pr.start = num(std::string_view(s).substr(0, dash));
        pr.end = num(std::string_view(s).substr(dash + 1));
        if (pr.end < pr.start) r.fail(n, key, "'" + s + "': the range ends before it starts");
    } else {
        pr.start = pr.end = num(s);
    }
}

// rules: policy rules, each added to the default three as `ip rule add` would.
void read_rules(const Reader& r, const YAML::Node& rs, Config& c) {
    if (!rs.IsSequence()) r.fail(rs, "rules", "a list of rules");
    c.rules = ipv4::default_fib_rules();
    for (std::size_t k = 0; k < rs.size(); ++k) {
        const YAML::Node& n = rs[k];
        const std::string at = "rules[" + std::to_string(k) + "]";
        r.keys(n, at,
               {"priority", "not", "from", "to", "iif", "oif", "tos", "dscp", "fwmark", "ipproto",
                "sport", "dport", "action", "table", "goto", "suppress_prefixlength",
                "suppress_ifgroup"});
        ipv4::FibRule f;
        const bool has_prio = static_cast<bool>(n["priority"]);
        if (has_prio)
            f.priority =
                static_cast<uint32_t>(r.uint(n["priority"], at + ".priority", 0, UINT32_MAX));
        if (auto v = n["not"]) f.invert = r.boolean(v, at + ".not");
        auto pfx = [&](const char* key, wire::Ipv4Addr& a, uint8_t& len) {
            if (auto v = n[key]) {
                const std::string s = r.string(v, at + "." + key);
                if (s != "all" && !ipv4::parse_prefix(s, a, len))
                    r.fail(
                        v, at + "." + key,
                        "'" + s + "' is not a prefix like 198.18.0.0/24 (host bits zero) or all");
            }
        };
        pfx("from", f.src, f.src_len);
        pfx("to", f.dst, f.dst_len);
        auto dev = [&](const char* key, std::string& name, uint32_t& ifindex) {
            if (auto v = n[key]) {
                name = r.string(v, at + "." + key);
                ifindex = ipv4::kIfDetached;  // resolved by the daemon
            }
        };
        dev("iif", f.iifname, f.iif);
        dev("oif", f.oifname, f.oif);
        if (auto v = n["tos"]) {
            const auto tos = read_number(r, v, at + ".tos", 255, r.string(v, at + ".tos"));
            if (tos & ~0x1cu)
                r.fail(v, at + ".tos", "only the TOS bits 0x1c may be set (IPTOS_RT_MASK)");
            f.dscp = static_cast<uint8_t>(tos >> 2);
        }
        if (auto v = n["dscp"]) {
            if (n["tos"]) r.fail(v, at + ".dscp", "tos and dscp exclude each other");
            f.dscp = static_cast<uint8_t>(
                read_number(r, v, at + ".dscp", 63, r.string(v, at + ".dscp")));
            f.dscp_mask = 0x3f;
            f.dscp_full = true;
        }
        if (auto v = n["fwmark"]) {
            const std::string s = r.string(v, at + ".fwmark");
            const auto slash = s.find('/');
            f.fwmark = static_cast<uint32_t>(
                read_number(r, v, at + ".fwmark", UINT32_MAX, s.substr(0, slash)));
            f.fwmask = slash == std::string::npos
                           ? UINT32_MAX
                           : static_cast<uint32_t>(read_number(r, v, at + ".fwmark", UINT32_MAX,
                                                               s.substr(slash + 1)));
        }
        if (auto v = n["ipproto"]) {
            const std::string s = r.string(v, at + ".ipproto");
            if (s == "tcp")
                f.ip_proto = 6;
            else if (s == "udp")
                f.ip_proto = 17;
            else if (s == "icmp")
                f.ip_proto = 1;
            else
                f.ip_proto = static_cast<uint8_t>(r.uint(v, at + ".ipproto", 1, 255));
        }
        if (auto v = n["sport"]) read_ports(r, v, at + ".sport", f.sport, f.sport_mask);
        if (auto v = n["dport"]) read_ports(r, v, at + ".dport", f.dport, f.dport_mask);
        if (auto v = n["action"]) {
            if (!ipv4::parse_rule_action(r.string(v, at + ".action"), f.action))
                r.fail(v, at + ".action",
                       "'" + v.Scalar() +
                           "' is not one of: lookup, goto, nop, unreachable, prohibit, blackhole");
        } else if (n["goto"]) {
            f.action = ipv4::RuleAction::kGoto;
        }
        if (auto v = n["table"]) {
            if (f.action != ipv4::RuleAction::kToTable)
                r.fail(v, at + ".table", "only a lookup rule has a table");
            f.table = read_table(r, v, at + ".table");
        } else if (f.action == ipv4::RuleAction::kToTable) {
            r.fail(n, at + ".table", "missing: a lookup rule needs a table");
        }
        if (auto v = n["goto"]) {
            if (f.action != ipv4::RuleAction::kGoto)
                r.fail(v, at + ".goto", "only a goto rule has a target");
            f.goto_priority = static_cast<uint32_t>(r.uint(v, at + ".goto", 0, UINT32_MAX));
        } else if (f.action == ipv4::RuleAction::kGoto) {
            r.fail(n, at + ".goto", "missing: a goto rule needs a target priority");
        }
        if (auto v = n["suppress_prefixlength"])
            f.suppress_prefixlen =
                static_cast<int32_t>(r.uint(v, at + ".suppress_prefixlength", 0, 32));
        if (auto v = n["suppress_ifgroup"])
            f.suppress_ifgroup =
                static_cast<int64_t>(r.uint(v, at + ".suppress_ifgroup", 0, INT32_MAX));
        if ((n["suppress_prefixlength"] || n["suppress_ifgroup"]) &&
            f.action != ipv4::RuleAction::kToTable)
            r.fail(n, at, "suppress_* applies to lookup rules only");
        const uint32_t prio = ipv4::fib_rule_insert(c.rules, f, has_prio);
        // fib_nl2rule(): "Backward goto not supported".
        if (f.action == ipv4::RuleAction::kGoto && f.goto_priority <= prio)
            r.fail(n["goto"], at + ".goto",
                   "backward goto not supported (target " + std::to_string(f.goto_priority) +
                       " <= priority " + std::to_string(prio) + ")");
    }
}

// ipv4: net.ipv4.* knobs.
void read_ipv4(const Reader& r, const YAML::Node& v, Config& c) {
    r.keys(v, "ipv4",
           {"ipfrag_high_thresh", "ipfrag_low_thresh", "ipfrag_time", "ipfrag_max_dist",
            "icmp_ratelimit", "icmp_ratemask", "icmp_msgs_per_sec", "icmp_msgs_burst",
            "ip_default_ttl", "ip_unprivileged_port_start", "ip_nonlocal_bind",
            "icmp_echo_ignore_all", "icmp_echo_ignore_broadcasts",
            "icmp_ignore_bogus_error_responses", "ip_early_demux", "udp_early_demux"});
    auto u = [&](const char* k, uint64_t lo, uint64_t hi, auto& field) {
        if (auto n = v[k])
            field = static_cast<std::remove_reference_t<decltype(field)>>(
                r.uint(n, std::string("ipv4.") + k, lo, hi));
    };
    u("ipfrag_high_thresh", 0, UINT32_MAX, c.defrag.ipfrag_high_thresh);
    u("ipfrag_low_thresh", 0, UINT32_MAX, c.defrag.ipfrag_low_thresh);
    u("ipfrag_time", 1, 86400, c.defrag.ipfrag_time);
    u("ipfrag_max_dist", 0, UINT32_MAX, c.defrag.ipfrag_max_dist);
    u("icmp_ratelimit", 0, 3600000, c.icmp.icmp_ratelimit_ms);
    u("icmp_ratemask", 0, UINT32_MAX, c.icmp.icmp_ratemask);
    u("icmp_msgs_per_sec", 0, UINT32_MAX, c.icmp.icmp_msgs_per_sec);
    u("icmp_msgs_burst", 0, UINT32_MAX, c.icmp.icmp_msgs_burst);
    u("ip_default_ttl", 1, 255, c.icmp.ip_default_ttl);
    u("icmp_echo_ignore_all", 0, 1, c.icmp.icmp_echo_ignore_all);
    u("icmp_echo_ignore_broadcasts", 0, 1, c.icmp.icmp_echo_ignore_broadcasts);
    u("icmp_ignore_bogus_error_responses", 0, 1, c.icmp.icmp_ignore_bogus_error_responses);
    u("ip_unprivileged_port_start", 0, 65535, c.policy.ip_unprivileged_port_start);
    if (auto n = v["ip_nonlocal_bind"])
        c.ip_nonlocal_bind = r.uint(n, "ipv4.ip_nonlocal_bind", 0, 1);
    if (auto n = v["ip_early_demux"]) c.ip_early_demux = r.uint(n, "ipv4.ip_early_demux", 0, 1);
    if (auto n = v["udp_early_demux"]) c.udp_early_demux = r.uint(n, "ipv4.udp_early_demux", 0, 1);
    // ipfrag_low_thresh may not exceed ipfrag_high_thresh (the kernel's proc
    // handler bounds each by the other).
    if (c.defrag.ipfrag_low_thresh > c.defrag.ipfrag_high_thresh)
        r.fail(v["ipfrag_low_thresh"] ? v["ipfrag_low_thresh"] : v, "ipv4.ipfrag_low_thresh",
               "must not exceed ipfrag_high_thresh (" +
                   std::to_string(c.defrag.ipfrag_high_thresh) + ")");
}

// workers: one core per (interface, queue), the control thread's core.
void read_workers(const Reader& r, const YAML::Node& root, const LoadOptions& opt, Config& c) {
    const unsigned cpus = opt.cpus ? opt.cpus : std::max(1u, std::thread::hardware_concurrency());
    if (auto w = root["workers"]) {
        r.keys(w, "workers", {"cores", "control_core", "runtime_profile"});
        if (auto p = w["runtime_profile"])
            c.runtime_profile = r.boolean(p, "workers.runtime_profile");
        if (auto cs = w["cores"]) {
            if (!cs.IsSequence()) r.fail(cs, "workers.cores", "a list of CPU numbers");
            for (std::size_t k = 0; k < cs.size(); ++k)
                c.worker_cores.push_back(static_cast<unsigned>(
                    r.uint(cs[k], "workers.cores[" + std::to_string(k) + "]", 0, cpus - 1)));
            if (c.worker_cores.size() != c.workers())
                r.fail(cs, "workers.cores",
                       std::to_string(c.worker_cores.size()) + " cores for " +
                           std::to_string(c.workers()) + " workers (one per interface queue)");
        }
        if (auto cc = w["control_core"])
            c.control_core = static_cast<int>(r.uint(cc, "workers.control_core", 0, cpus - 1));
    }
}

// rings: the apps' ring geometry (shm::RingGeometry's rules within the daemon's limits).
void read_rings(const Reader& r, const YAML::Node& rg, Config& c) {
    r.keys(rg, "rings", {"slots", "slot_size"});
    using shm::RingGeometry;
    if (auto s = rg["slots"]) {
        c.ring_slots =
            static_cast<uint32_t>(r.uint(s, "rings.slots", RingGeometry::kMinSlots, kMaxRingSlots));
        if (!RingGeometry::slot_count_ok(c.ring_slots))
            r.fail(s, "rings.slots", "must be a power of two");
    }
    if (auto s = rg["slot_size"]) {
        c.ring_slot_size = static_cast<uint32_t>(
            r.uint(s, "rings.slot_size", RingGeometry::kMinSlotSize, kMaxRingSlotSize));
        if (!RingGeometry::slot_size_ok(c.ring_slot_size))
            r.fail(s, "rings.slot_size", "must be a multiple of 64");
    }
}

// dpdk: the EAL's arguments and the per-port buffer sizes.
void read_dpdk(const Reader& r, const YAML::Node& d, Config& c) {
    r.keys(
        d, "dpdk",
        {"eal_args", "mbufs", "mbuf_cache", "rx_descriptors", "tx_descriptors", "exception_poll"});
    if (auto a = d["eal_args"]) {
        if (!a.IsSequence())
            r.fail(a, "dpdk.eal_args", "a list of arguments, e.g. [-l, \"0\", --in-memory]");
        for (std::size_t k = 0; k < a.size(); ++k)
            c.dpdk.eal_args.push_back(r.string(a[k], "dpdk.eal_args[" + std::to_string(k) + "]"));
    }
    if (auto m = d["mbufs"])
        c.dpdk.mbufs = static_cast<uint32_t>(r.uint(m, "dpdk.mbufs", 1023, 1u << 24));
    if (auto m = d["mbuf_cache"])
        c.dpdk.mbuf_cache = static_cast<uint32_t>(r.uint(m, "dpdk.mbuf_cache", 0, 512));
    if (auto m = d["rx_descriptors"])
        c.dpdk.rx_descriptors = static_cast<uint16_t>(r.uint(m, "dpdk.rx_descriptors", 64, 32768));
    if (auto m = d["tx_descriptors"])
        c.dpdk.tx_descriptors = static_cast<uint16_t>(r.uint(m, "dpdk.tx_descriptors", 64, 32768));
    if (auto m = d["exception_poll"])
        c.dpdk.exception_poll = static_cast<uint32_t>(r.uint(m, "dpdk.exception_poll", 1, 4096));
}

// control: the control socket's path, mode and group; the per-uid quotas, reserves and
// timeouts.
void read_control(const Reader& r, const YAML::Node& ct, Config& c) {
    r.keys(ct, "control",
           {"socket", "mode", "group", "max_connections", "max_connections_per_uid",
            "reserved_connections", "reserved_fds", "idle_timeout_ms", "frame_timeout_ms",
            "max_endpoints_per_uid", "max_ring_bytes_per_uid"});
    auto u32 = [&](const char* key, uint32_t* out, uint64_t lo, uint64_t hi) {
        if (auto v = ct[key])
            *out = static_cast<uint32_t>(r.uint(v, std::string("control.") + key, lo, hi));
    };
    u32("max_connections", &c.control_max_connections, 1, 65536);
    u32("max_connections_per_uid", &c.control_max_connections_per_uid, 1, 65536);
    u32("reserved_connections", &c.control_reserved_connections, 0, 65536);
    u32("reserved_fds", &c.control_reserved_fds, 0, 65536);
    u32("idle_timeout_ms", &c.control_idle_timeout_ms, 0, 86400000);
    u32("frame_timeout_ms", &c.control_frame_timeout_ms, 100, 600000);
    u32("max_endpoints_per_uid", &c.control_max_endpoints_per_uid, 1, 1u << 20);
    if (auto v = ct["max_ring_bytes_per_uid"])
        c.control_max_ring_bytes_per_uid =
            r.uint(v, "control.max_ring_bytes_per_uid", 1u << 16, uint64_t{1} << 48);
    if (c.control_reserved_connections >= c.control_max_connections)
        r.fail(ct["reserved_connections"] ? ct["reserved_connections"] : ct,
               "control.reserved_connections", "must be below control.max_connections");
    if (auto s = ct["socket"]) {
        c.control_socket = r.string(s, "control.socket");
        if (c.control_socket[0] != '/' || c.control_socket.size() >= 108)
            r.fail(s, "control.socket", "an absolute path shorter than 108 bytes");
    }
    if (auto m = ct["mode"])
        c.control_mode = static_cast<unsigned>(r.uint(m, "control.mode", 0, 0777));
    if (auto g = ct["group"]) c.control_group = r.string(g, "control.group");
}

// metrics: {listen: ADDR:PORT}, the HTTP endpoint Prometheus scrapes.
void read_metrics(const Reader& r, const YAML::Node& m, Config& c) {
    r.keys(m, "metrics", {"listen"});
    auto l = m["listen"];
    if (!l) return;
    const std::string s = r.string(l, "metrics.listen");
    const std::size_t colon = s.rfind(':');
    auto addr = colon == std::string::npos ? std::nullopt : wire::parse_ipv4(s.substr(0, colon));
    char* end = nullptr;
    const unsigned long port =
        colon == std::string::npos ? 0 : std::strtoul(s.c_str() + colon + 1, &end, 10);
    if (!addr || colon + 1 == s.size() || !end || *end != '\0' || port < 1 || port > 65535)
        r.fail(l, "metrics.listen", "an IPv4 address and a port, as 127.0.0.1:9464");
    c.metrics_addr = *addr;
    c.metrics_port = static_cast<uint16_t>(port);
}

// privileges: {user: NAME, group: NAME, seccomp: on|off|log} (docs/security.md).
void read_privileges(const Reader& r, const YAML::Node& p, Config& c) {
    r.keys(p, "privileges", {"user", "group", "seccomp"});
    if (auto u = p["user"]) c.privileges_user = r.string(u, "privileges.user");
    if (auto g = p["group"]) {
        c.privileges_group = r.string(g, "privileges.group");
        if (c.privileges_user.empty())
            r.fail(g, "privileges.group", "needs privileges.user (the user to run as)");
    }
    if (auto s = p["seccomp"])
        c.seccomp = r.choice<Seccomp>(
            s, "privileges.seccomp",
            {{"off", Seccomp::kOff}, {"on", Seccomp::kOn}, {"log", Seccomp::kLog}});
}

// policy: who is granted CAP_NET_BIND_SERVICE / CAP_NET_RAW equivalents.
void read_policy(const Reader& r, const YAML::Node& p, Config& c) {
    r.keys(p, "policy", {"net_bind_service", "net_raw", "bindings", "register"});
    auto grant = [&](const char* k, ctl::Grant& g) {
        auto n = p[k];
        if (!n) return;
        std::string at = std::string("policy.") + k;
        r.keys(n, at, {"uids", "gids"});
        for (const char* list : {"uids", "gids"}) {
            auto l = n[list];
            if (!l) continue;
            if (!l.IsSequence()) r.fail(l, at + "." + list, "a list of numeric ids");
            for (std::size_t k2 = 0; k2 < l.size(); ++k2) {
                auto id = r.uint(l[k2], at + "." + list + "[" + std::to_string(k2) + "]", 0,
                                 UINT32_MAX - 1);
                (std::string(list) == "uids" ? g.uids : g.gids)
                    .push_back(static_cast<uint32_t>(id));
            }
        }
    };
    grant("net_bind_service", c.policy.bind_service);
    grant("net_raw", c.policy.net_raw);
    grant("bindings", c.policy.bindings);
    grant("register", c.policy.register_label);
}

// bindings: a list of {protocol: udp, prefix: A.B.C.D/N, ports: P | LO-HI | all,
// label: NAME | action: drop, no_reuseport: bool}.
void read_bindings(const Reader& r, const YAML::Node& bs, Config& c) {
    if (!bs.IsSequence()) r.fail(bs, "bindings", "expected a list of bindings");
    for (std::size_t i = 0; i < bs.size(); ++i) {
        const YAML::Node n = bs[i];
        const std::string at = "bindings[" + std::to_string(i) + "]";
        r.keys(n, at, {"protocol", "prefix", "ports", "label", "action", "no_reuseport"});
        config::BindingEntry e;
        e.key = at;
        e.line = n.Mark().line + 1;
        e.column = n.Mark().column + 1;
        demux::Binding& b = e.binding;
        if (auto p = n["protocol"])
            (void)r.choice<int>(p, at + ".protocol", {{"udp", 17}});  // sk_lookup: UDP here
        auto pre = n["prefix"];
        if (!pre) r.fail(n, at + ".prefix", "missing (an address or prefix: 198.18.100.0/24)");
        {
            const std::string s = r.string(pre, at + ".prefix");
            const std::string full = s.find('/') == std::string::npos ? s + "/32" : s;
            if (!ipv4::parse_prefix(full, b.prefix, b.prefix_len)) {
                // Refused for host bits only when the address and length parse alone.
                const auto slash = full.find('/');
                const auto addr = wire::parse_ipv4(full.substr(0, slash));
                wire::Ipv4Addr p = 0;
                uint8_t l = 0;
                if (addr && ipv4::parse_prefix("0.0.0.0" + full.substr(slash), p, l))
                    r.fail(pre, at + ".prefix",
                           "'" + s + "' has host bits set (did you mean " +
                               wire::ipv4_str(l ? *addr & ~(0xffffffffu >> l) : 0) + "/" +
                               std::to_string(l) + "?)");
                r.fail(pre, at + ".prefix",
                       "'" + s + "' is not an address or prefix like 198.18.100.0/24");
            }
        }
        if (auto ports = n["ports"]) {
            const std::string s = r.string(ports, at + ".ports");
            if (s != "all") {
                const auto dash = s.find('-');
                YAML::Node lo(s.substr(0, dash));
                YAML::Node hi(dash == std::string::npos ? s : s.substr(dash + 1));
                try {
                    b.port_lo = static_cast<uint16_t>(r.uint(lo, at + ".ports", 0, 65535));
                    b.port_hi = static_cast<uint16_t>(r.uint(hi, at + ".ports", 0, 65535));
                } catch (const Error& err) {
                    r.fail(ports, at + ".ports",
                           "'" + s + "' is not a port, a range LO-HI or all (0..65535)");
                }
                if (b.port_lo > b.port_hi)
                    r.fail(ports, at + ".ports", "'" + s + "': the range is empty (LO > HI)");
            }
        }
        const auto label = n["label"];
        const auto action = n["action"];
        if (action) b.drop = r.choice<bool>(action, at + ".action", {{"drop", true}});
        if (label && b.drop)
            r.fail(label, at + ".label", "a drop binding has no label (SK_DROP assigns nothing)");
        if (!label && !b.drop)
            r.fail(n, at + ".label",
                   "missing (the label endpoints register under, or "
                   "action: drop)");
        if (label) {
            b.label = r.string(label, at + ".label");
            if (b.label.size() > 64) r.fail(label, at + ".label", "longer than 64 characters");
        }
        if (auto nr = n["no_reuseport"]) b.no_reuseport = r.boolean(nr, at + ".no_reuseport");
        for (const config::BindingEntry& o : c.bindings)
            if (o.binding.prefix == b.prefix && o.binding.prefix_len == b.prefix_len &&
                o.binding.port_lo == b.port_lo && o.binding.port_hi == b.port_hi)
                r.fail(n, at,
                       "the same prefix and ports as " + o.key +
                           " (one binding per prefix and port range)");
        c.bindings.push_back(std::move(e));
    }
}

// `host:` (README "Where addresses come from"): kernel (the default) or config. A file that
// writes addresses, routes or net.ipv4.conf knobs without saying `host:` is read as
// `host: config` (c.host_implied names the key), so files written before the default
// changed keep their meaning; with `host: kernel` said, such keys are refused.
void read_host(const Reader& r, const YAML::Node& root, Config& c) {
    // The first key of the file that belongs to host: config, with its node.
    std::string key;
    YAML::Node node;
    auto note = [&](const YAML::Node& n, const std::string& at) {
        if (key.empty() && n) key = at, node = n;
    };
    if (auto is = root["interfaces"]; is && is.IsSequence())
        for (std::size_t i = 0; i < is.size(); ++i) {
            const std::string at = "interfaces[" + std::to_string(i) + "]";
            note(is[i]["addresses"], at + ".addresses");
            note(is[i]["conf"], at + ".conf");
            if (auto vs = is[i]["vlans"]; vs && vs.IsSequence())
                for (std::size_t v = 0; v < vs.size(); ++v) {
                    const std::string vat = at + ".vlans[" + std::to_string(v) + "]";
                    note(vs[v]["addresses"], vat + ".addresses");
                    note(vs[v]["conf"], vat + ".conf");
                }
        }
    note(root["loopback"], "loopback");
    note(root["routes"], "routes");
    note(root["rules"], "rules");
    note(root["all"], "all");
    note(root["ipv4"], "ipv4");
    const YAML::Node h = root["host"];
    if (!h) {
        c.host_kernel = key.empty();
        c.host_implied = key;
        return;
    }
    c.host_kernel = r.choice<bool>(h, "host", {{"config", false}, {"kernel", true}});
    if (!c.host_kernel || key.empty()) return;
    const bool knob = key == "all" || key.ends_with(".conf");
    r.fail(node, key,
           key == "ipv4" ? "host: kernel: the net.ipv4 knobs are the kernel's (sysctl -w "
                           "net.ipv4.KNOB=...); remove them from the file, or use host: config"
           : knob        ? "host: kernel: the net.ipv4.conf knobs are the kernel's (sysctl -w "
                           "net.ipv4.conf.IFACE.KNOB=...); remove them from the file, or use "
                           "host: config"
                         : "host: kernel: addresses, routes and rules are the kernel's (ip addr, "
                           "ip route, ip rule); remove them from the file, or use host: config");
}

}  // namespace

Config parse(const std::string& text, const std::string& path, const LoadOptions& opt) {
    YAML::Node root;
    try {
        root = YAML::Load(text);
    } catch (const YAML::ParserException& e) {
        throw Error(path, e.mark.line + 1, e.mark.column + 1, "", "YAML syntax: " + e.msg);
    }
    Reader r(path, opt);
    Config c;
    c.path = path;
    if (!root || root.IsNull()) throw Error(path, 0, 0, "", "empty configuration");
    try {
        r.keys(root, "",
               {"interfaces", "all", "routes", "rules", "ipv4", "workers", "rings", "control",
                "policy", "dpdk", "metrics", "loopback", "host", "privileges", "bindings"});
        read_interfaces(r, root, c);
        if (auto lo = root["loopback"]) {
            r.keys(lo, "loopback", {"addresses"});
            if (auto a = lo["addresses"])
                read_addresses(r, a, "loopback.addresses", c.loopback_addresses);
        }
        if (auto a = root["all"]) r.devconf(a, "all", c.all);
        if (auto rs = root["routes"]) read_routes(r, rs, c);
        if (auto rs = root["rules"]) read_rules(r, rs, c);
        if (auto v = root["ipv4"]) read_ipv4(r, v, c);
        read_host(r, root, c);
        read_workers(r, root, opt, c);
        if (auto rg = root["rings"]) read_rings(r, rg, c);
        if (auto d = root["dpdk"]) read_dpdk(r, d, c);
        if (auto ct = root["control"]) read_control(r, ct, c);
        if (auto p = root["policy"]) read_policy(r, p, c);
        if (auto m = root["metrics"]) read_metrics(r, m, c);
        if (auto b = root["bindings"]) read_bindings(r, b, c);
        if (auto p = root["privileges"]) read_privileges(r, p, c);
    } catch (const YAML::Exception& e) {
        // A shape yaml-cpp itself refused (e.g. a key that is not a scalar).
        throw Error(path, e.mark.line + 1, e.mark.column + 1, "", e.msg);
    }
    return c;
}

Config load(const std::string& path, const LoadOptions& opt) {
    std::ifstream in(path);
    if (!in) throw Error(path, 0, 0, "", "cannot read the file");
    std::stringstream ss;
    ss << in.rdbuf();
    return parse(ss.str(), path, opt);
}

}  // namespace ingress::config
