// The differential tests' scenario format (tests/differential/README.md): the receiving
// host's configuration, the sockets an app opens, the frames injected at L2, and what one
// run observed. The same Scenario drives the Linux kernel and ingressd.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "wire/ethernet.h"

namespace ingress::diff {

struct Route {
    std::string prefix;  // "198.19.0.0/16"
    std::string type =
        "unicast";             // unicast | local | broadcast | unreachable | blackhole | prohibit
    std::string dev = "main";  // main | second | lo
    std::string table;         // "" (iproute2's default) | main | local | default | N
};

// One `ip rule add`: its keys in order (priority, not, from, to, iif, oif, tos, fwmark,
// ipproto, sport, dport, action, table, goto, suppress_prefixlength), the config's spelling.
using Rule = std::vector<std::pair<std::string, std::string>>;

struct Vlan {
    uint16_t id = 0;
    std::vector<std::string> addresses;
};

// net.ipv4.conf.* / net.ipv4.* knobs, by sysctl name.
using Knobs = std::map<std::string, int64_t>;

struct Host {
    std::vector<std::string> addresses{"198.18.0.1/24"};  // on the main interface
    std::vector<std::string> second;  // addresses of a second interface (asymmetric routes)
    std::vector<std::string> lo;      // addresses of lo besides 127.0.0.1/8 (not a port)
    std::vector<Vlan> vlans;
    std::vector<Route> routes;
    std::vector<Rule> rules;
    Knobs conf, second_conf, all, ipv4;
};

struct Join {
    uint32_t group = 0;
    std::vector<uint32_t> sources;
    bool include = true;          // include: only these sources; else all but them
    std::string device = "main";  // the interface joined on: main | second
};

enum class SockKind { kUdp, kRaw, kTap };

struct Socket {
    std::string name;
    std::string compare_as;  // reuseport group: deliveries are compared as one multiset
    SockKind kind = SockKind::kUdp;
    uint32_t addr = 0;  // host order
    uint16_t port = 0;
    uint32_t remote_addr = 0;
    uint16_t remote_port = 0;
    uint8_t protocol = 0;         // raw
    uint16_t ethertype = 0x0003;  // tap; ETH_P_ALL
    bool dgram = false;           // tap SOCK_DGRAM
    // tap: compare the frames the host sends (PACKET_OUTGOING) too; without it both sides
    // skip them (the kernel's own ARP and the like). ignore_outgoing: PACKET_IGNORE_OUTGOING.
    bool outgoing = false, ignore_outgoing = false;
    std::string device;  // "" | main | second: SO_BINDTODEVICE (taps: the bound ifindex)
    bool reuseport = false, reuseaddr = false, multicast_all = true;
    std::optional<uint32_t> icmp_filter;
    std::optional<uint32_t> rcvbuf;  // SO_RCVBUF (UDP), as given to setsockopt
    std::vector<Join> joins;
    std::string label;     // UDP: registered under this label (bindings)
    bool recverr = false;  // IP_RECVERR (UDP, raw)
};

// A binding (src/demux/sk_lookup.h): ingressd's `bindings:` entry, and the kernel side's
// BPF sk_lookup program's table entry (tests/differential/sk_lookup.bpf.c).
struct ScBinding {
    uint32_t prefix = 0;  // host order, masked
    uint8_t prefix_len = 32;
    uint16_t port_lo = 0, port_hi = 65535;
    std::string label;  // empty: drop
    bool no_reuseport = false;
};

struct Frame {
    std::vector<uint8_t> bytes;
    int delay_ms = 0;          // sleep before sending this frame
    std::string via = "main";  // the interface it arrives on: main | second
};

struct Scenario {
    std::string file, name, what;
    std::string differs;  // non-empty: a documented, deliberate difference (why)
    std::string known;    // non-empty: a known mismatch not fixed yet (analysis)
    Host host;
    std::vector<Socket> sockets;
    std::vector<Frame> frames;
    // `bindings:` [{prefix, ports: P | LO-HI | all, label | action: drop, no_reuseport}]
    std::vector<ScBinding> bindings;
    int settle_ms = 0;  // extra wait after the last frame (timers)
    // Steered: ingressd's ports take only what their steering selects (no capture_all), the
    // rest goes to namespace a's kernel, whose counters are added to ingressd's. With
    // `dataplane_frames`, the number of frames the dataplane must have received.
    bool steered = false;
    std::optional<int64_t> dataplane_frames;
    YAML::Node source;  // as written, for reproducing a random scenario
};

// What one side observed.
struct Observed {
    std::map<std::string, std::vector<std::string>> deliveries;  // socket (or group) -> records
    std::map<std::string, int64_t> counters;                     // nstat name -> delta
    std::vector<std::string> icmp;                               // ICMP errors sent back
};

inline constexpr wire::Mac kHostMac{{0x02, 0x00, 0x5e, 0x10, 0x00, 0x01}};
inline constexpr wire::Mac kPeerMac{{0x02, 0x00, 0x5e, 0x10, 0x00, 0x02}};

// The kernel under test cannot run this scenario (e.g. no 8021q module): reported, not failed.
struct Unsupported : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// Parses every scenario of a file; throws std::runtime_error naming the file and scenario.
std::vector<Scenario> load_file(const std::string& path);
Scenario parse_scenario(const YAML::Node& n, const std::string& file);

// A random scenario: a socket set and `frames` frames drawn from the behaviours the corpus
// covers, reproducible from (seed, index).
YAML::Node random_scenario(std::mt19937_64& rng, int index, int frames);

// "198.18.0.2" -> host order; throws on anything else.
uint32_t parse_addr(const std::string& s);

// One delivery as the diff shows it: source, length and the bytes in hex (long ones cut,
// with a hash of the whole).
std::string record(const std::string& from, const uint8_t* data, std::size_t len);

// The MIB counters compared on both sides (RX path only: the kernel's namespace also
// counts what it sends, e.g. IGMP reports).
const std::vector<std::string>& compared_counters();

}  // namespace ingress::diff
