#include "sides.h"

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "ingress/client.h"
#include "support/netns.h"
#include "wire/ipv4.h"

namespace ingress::diff {
namespace {

void sleep_ms(int ms) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

void must(const std::string& cmd) {
    if (test::sh(cmd) != 0) throw std::runtime_error("command failed: " + cmd);
}

std::string addr_str(uint32_t a) {
    return wire::ipv4_str(a);
}

// Zeroes the time words of every timestamp option (type 68) in the `len` option bytes at
// `o`: each side stamps its own clock (ip_rcv_options() on receive, ip_options_build() on
// the answer), as a timestamp reply's own times are blanked. Addresses stay.
void blank_ts_times(uint8_t* o, std::size_t len) {
    for (std::size_t i = 0; i < len;) {
        if (o[i] == 0) break;  // IPOPT_END
        if (o[i] == 1) {       // IPOPT_NOOP
            ++i;
            continue;
        }
        if (i + 1 >= len || o[i + 1] < 2 || i + o[i + 1] > len) break;
        const std::size_t olen = o[i + 1];
        if (o[i] == 68 && olen >= 4) {
            const bool with_addr = (o[i + 3] & 0x0f) != 0;  // TSANDADDR, PRESPEC
            for (std::size_t t = with_addr ? 8 : 4; t + 4 <= olen; t += with_addr ? 8 : 4)
                std::fill(o + i + t, o + i + t + 4, 0);
        }
        i += olen;
    }
}

// " options HEX" for an IP header of `ihl` bytes with options (their times blanked), "" for
// one without.
std::string options_str(uint8_t* iph, std::size_t ihl) {
    if (ihl <= 20) return "";
    blank_ts_times(iph + 20, ihl - 20);
    static const char* kHex = "0123456789abcdef";
    std::string s = " options ";
    for (std::size_t i = 20; i < ihl; ++i) {
        s += kHex[iph[i] >> 4];
        s += kHex[iph[i] & 0x0f];
    }
    return s;
}

// Closes an fd on scope exit.
struct Fd {
    int fd = -1;
    explicit Fd(int f = -1) : fd(f) {}
    Fd(Fd&& o) noexcept : fd(o.fd) { o.fd = -1; }
    Fd& operator=(Fd&& o) noexcept {
        std::swap(fd, o.fd);
        return *this;
    }
    ~Fd() {
        if (fd >= 0) close(fd);
    }
};

// The namespaces both sides share the shape of: "a" receives (the host under test), "b"
// injects. A second veth pair joins them when the scenario has a second interface (for
// asymmetric routes). IPv6 is off so neither kernel sends ND/MLD frames that a tap would see.
class Topology {
public:
    explicit Topology(const Host& h) : pair_("df") {
        const std::string& a = pair_.ns_a();
        const std::string& b = pair_.ns_b();
        for (const auto& ns : {a, b})
            must("ip netns exec " + ns +
                 " sysctl -qw net.ipv6.conf.all.disable_ipv6=1 "
                 "net.ipv6.conf.default.disable_ipv6=1");
        must("ip -n " + a + " link set lo up");
        if (!h.second.empty()) {
            second_a_ = "dfs" + pair_.if_a().substr(3);
            second_b_ = "dft" + pair_.if_b().substr(3);
            // The same MACs as the main pair: a frame built for `host` suits either.
            must("ip link add " + second_a_ + " netns " + a + " address " + kHostMac.str() +
                 " type veth peer name " + second_b_ + " netns " + b + " address " +
                 kPeerMac.str());
            must("ip -n " + a + " link set " + second_a_ + " up");
            must("ip -n " + b + " link set " + second_b_ + " up");
        }
    }
    const test::VethPair& pair() const { return pair_; }
    // Namespace b's end of the link a frame arrives `via` (main | second).
    std::string peer_dev(const std::string& via) const {
        return via == "second" ? second_b_ : pair_.if_b();
    }
    std::string dev(const std::string& logical) const {
        if (logical == "second") return second_a_;
        if (logical == "lo") return "lo";
        if (logical == "any") return "";  // a tap on every device: sll_ifindex 0
        if (logical.rfind("vlan", 0) == 0) return pair_.if_a() + "." + logical.substr(4);
        return pair_.if_a();
    }
    // ifindex of a logical device inside namespace a.
    uint32_t ifindex(const std::string& logical) const {
        if (logical.empty() || logical == "any") return 0;
        pair_.enter_a();
        uint32_t i = if_nametoindex(dev(logical).c_str());
        pair_.leave();
        return i;
    }

private:
    test::VethPair pair_;
    std::string second_a_, second_b_;
};

// Injects the scenario's frames from namespace b (with their delays), calls `wait` back in the
// original namespace, and returns the ICMP errors and replies namespace b received meanwhile.
std::vector<std::string> inject(const Topology& t, const Scenario& sc,
                                const std::function<void()>& wait) {
    t.pair().enter_b();
    // SOCK_DGRAM: the bytes start at the IP header.
    Fd cap(socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IP)));
    if (cap.fd < 0) throw std::runtime_error("capture socket: " + std::string(strerror(errno)));
    // Consecutive frames on the same link go as one burst.
    std::vector<std::vector<uint8_t>> burst;
    std::string via = sc.frames.empty() ? "main" : sc.frames.front().via;
    for (const auto& f : sc.frames) {
        if (f.delay_ms > 0 || f.via != via) {
            test::send_frames(t.peer_dev(via), burst);
            burst.clear();
            via = f.via;
            if (f.delay_ms > 0) sleep_ms(f.delay_ms);
        }
        burst.push_back(f.bytes);
    }
    test::send_frames(t.peer_dev(via), burst);
    t.pair().leave();
    wait();
    std::vector<std::string> icmp;
    uint8_t buf[2048];
    for (;;) {
        sockaddr_ll sll{};
        socklen_t sl = sizeof sll;
        ssize_t n = recvfrom(cap.fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&sll), &sl);
        if (n < 0) break;
        if (sll.sll_pkttype == PACKET_OUTGOING || n < 20 + 8 || buf[9] != IPPROTO_ICMP) continue;
        std::size_t ihl = (buf[0] & 0x0f) * 4u;
        if (static_cast<std::size_t>(n) < ihl + 8) continue;
        uint8_t* ic = buf + ihl;
        uint32_t src = ntohl(*reinterpret_cast<const uint32_t*>(buf + 12));
        uint32_t dst = ntohl(*reinterpret_cast<const uint32_t*>(buf + 16));
        // The answer's options (__ip_options_echo), times blanked.
        const std::string addrs = addr_str(src) + " -> " + addr_str(dst) + options_str(buf, ihl);
        const uint16_t frag = static_cast<uint16_t>(buf[6] << 8 | buf[7]);
        if (frag & 0x1fff) {  // a later fragment of a reply: where it goes and how long
            icmp.push_back(record("fragment " + addrs + " frag " + std::to_string(frag), ic,
                                  static_cast<std::size_t>(n) - ihl));
            continue;
        }
        if (ic[0] == ICMP_ECHOREPLY || ic[0] == ICMP_TIMESTAMPREPLY) {
            // Replies (icmp_reply): addresses, TOS, MF, and the whole message; a timestamp
            // reply's receive and transmit times are each side's clock, so they are blanked.
            std::vector<uint8_t> m(ic, ic + (n - static_cast<ssize_t>(ihl)));
            if (ic[0] == ICMP_TIMESTAMPREPLY && m.size() >= 20) {
                std::fill(m.begin() + 12, m.begin() + 20, 0);
                m[2] = m[3] = 0;  // the checksum covers them
            }
            icmp.push_back(record("reply type " + std::to_string(ic[0]) + " " + addrs + " tos " +
                                      std::to_string(buf[1]) + " frag " + std::to_string(frag),
                                  m.data(), m.size()));
            continue;
        }
        if (ic[0] != ICMP_DEST_UNREACH && ic[0] != ICMP_TIME_EXCEEDED &&
            ic[0] != ICMP_PARAMETERPROB)
            continue;
        std::size_t quoted = static_cast<std::size_t>(n) - ihl - 8;
        std::string from = "type " + std::to_string(ic[0]) + " code " + std::to_string(ic[1]) +
                           " " + addrs + " quoting";
        // The quoted header and the first 8 bytes after it (RFC 792): what both must carry.
        std::size_t qihl = quoted ? (ic[8] & 0x0f) * 4u : 0;
        // The quoted header carries the options as ip_rcv_options() wrote them: times blanked.
        if (qihl > 20 && quoted >= qihl) blank_ts_times(ic + 8 + 20, qihl - 20);
        icmp.push_back(record(from, ic + 8, std::min(quoted, qihl + 8)));
    }
    t.pair().leave();
    return icmp;
}

// `ip -n NS` commands that give namespace a the scenario's addresses (as the config's
// `addresses` do: local /32, subnet broadcast, prefix route).
void add_addresses(const std::string& ns, const std::string& dev,
                   const std::vector<std::string>& as) {
    for (const auto& a : as) must("ip -n " + ns + " addr add " + a + " brd + dev " + dev);
}

void sysctls(const std::string& ns, const std::string& prefix, const Knobs& k) {
    for (const auto& [name, v] : k)
        must("ip netns exec " + ns + " sysctl -qw " + prefix + name + "=" + std::to_string(v));
}

// The devconf knobs the config has, with the kernel's compiled-in defaults, set explicitly so
// the host's own sysctl.d (e.g. rp_filter=2) cannot leak into a fresh namespace.
Knobs with_defaults(Knobs k) {
    for (const char* n : {"rp_filter", "accept_local", "route_localnet", "forwarding"})
        k.emplace(n, 0);
    return k;
}

std::map<std::string, int64_t> read_proc_counters() {
    std::map<std::string, int64_t> m;
    for (const char* path : {"/proc/thread-self/net/snmp", "/proc/thread-self/net/netstat"}) {
        std::ifstream in(path);
        std::string names, values;
        while (std::getline(in, names) && std::getline(in, values)) {
            std::istringstream ns(names), vs(values);
            std::string group, vgroup, n;
            ns >> group;
            vs >> vgroup;
            group.pop_back();  // "Ip:" -> "Ip"
            int64_t v;
            while (ns >> n && vs >> v) m[group + n] = v;
        }
    }
    return m;
}

std::map<std::string, int64_t> parse_stats(const std::string& text) {
    std::map<std::string, int64_t> m;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        std::istringstream ls(line);
        std::string n;
        int64_t v;
        if (ls >> n >> v && n[0] != '#') m[n] = v;
    }
    return m;
}

void deltas(Observed& o, const std::map<std::string, int64_t>& before,
            const std::map<std::string, int64_t>& after) {
    for (const auto& n : compared_counters()) {
        auto b = before.find(n), a = after.find(n);
        int64_t d = (a == after.end() ? 0 : a->second) - (b == before.end() ? 0 : b->second);
        if (d) o.counters[n] = d;
    }
}

std::string from_udp(uint32_t a, uint16_t p) {
    return addr_str(a) + ":" + std::to_string(p);
}
std::string from_tap(unsigned pkttype) {
    return "pkttype " + std::to_string(pkttype);
}

// A tap's frame, or nothing when the scenario does not compare sent frames. A sent IPv4
// frame's IP ID and header checksum are zeroed: each host picks its own IDs
// (ip_select_ident), everything else must match. Frames on lo (ifindex 1 in every namespace,
// LOOPBACK_IFINDEX: the answers to our own addresses) are named so, and their incoming copy
// is a sent frame too.
std::optional<std::string> tap_record(const Socket& s, unsigned pkttype, uint32_t ifindex,
                                      const uint8_t* data, std::size_t len) {
    constexpr uint32_t kLoIfindex = 1;
    const bool lo = ifindex == kLoIfindex;
    const std::string from = from_tap(pkttype) + (lo ? " on lo" : "");
    if (pkttype != PACKET_OUTGOING && !lo) return record(from, data, len);
    if (pkttype == PACKET_OUTGOING && !s.outgoing) return std::nullopt;
    std::vector<uint8_t> b(data, data + len);
    const std::size_t l3 = s.dgram ? 0 : 14;
    const bool ipv4 =
        s.dgram ? (len > 0 && (b[0] >> 4) == 4) : (len > 13 && b[12] == 0x08 && b[13] == 0);
    if (ipv4 && len >= l3 + 20) {
        b[l3 + 4] = b[l3 + 5] = 0;    // id
        b[l3 + 10] = b[l3 + 11] = 0;  // header checksum
    }
    return record(from, b.data(), b.size());
}

void finish_deliveries(const Scenario& sc, Observed& o) {
    // A reuseport group's members are one multiset: which member gets a datagram is a hash
    // choice each side makes its own way.
    std::set<std::string> groups;
    for (const auto& s : sc.sockets)
        if (s.compare_as != s.name) groups.insert(s.compare_as);
    for (const auto& g : groups) std::sort(o.deliveries[g].begin(), o.deliveries[g].end());
}

// Kernel sockets ----------------------------------------------------------------------------

void setopt(int fd, int level, int opt, const void* v, socklen_t len, const std::string& what) {
    if (setsockopt(fd, level, opt, v, len) != 0)
        throw std::runtime_error(what + ": " + strerror(errno));
}

sockaddr_in sin(uint32_t a, uint16_t p) {
    sockaddr_in s{};
    s.sin_family = AF_INET;
    s.sin_addr.s_addr = htonl(a);
    s.sin_port = htons(p);
    return s;
}

// In namespace a (the caller entered it).
void kernel_joins(int fd, const Socket& s, const Topology& t) {
    for (const auto& j : s.joins) {
        const uint32_t ifindex = if_nametoindex(t.dev(j.device).c_str());
        auto gss = [&](uint32_t a) {
            sockaddr_storage ss{};
            auto in = sin(a, 0);
            std::memcpy(&ss, &in, sizeof in);
            return ss;
        };
        if (j.include && !j.sources.empty()) {
            for (uint32_t src : j.sources) {
                group_source_req r{};
                r.gsr_interface = ifindex;
                r.gsr_group = gss(j.group);
                r.gsr_source = gss(src);
                setopt(fd, IPPROTO_IP, MCAST_JOIN_SOURCE_GROUP, &r, sizeof r,
                       s.name + " MCAST_JOIN_SOURCE_GROUP");
            }
            continue;
        }
        group_req r{};
        r.gr_interface = ifindex;
        r.gr_group = gss(j.group);
        setopt(fd, IPPROTO_IP, MCAST_JOIN_GROUP, &r, sizeof r, s.name + " MCAST_JOIN_GROUP");
        for (uint32_t src : j.sources) {
            group_source_req b{};
            b.gsr_interface = ifindex;
            b.gsr_group = gss(j.group);
            b.gsr_source = gss(src);
            setopt(fd, IPPROTO_IP, MCAST_BLOCK_SOURCE, &b, sizeof b,
                   s.name + " MCAST_BLOCK_SOURCE");
        }
    }
}

Fd open_kernel_socket(const Socket& s, const Topology& t) {
    int one = 1;
    if (s.kind == SockKind::kTap) {
        Fd fd(socket(AF_PACKET, (s.dgram ? SOCK_DGRAM : SOCK_RAW) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                     htons(s.ethertype)));
        if (fd.fd < 0) throw std::runtime_error(s.name + ": AF_PACKET socket");
        sockaddr_ll sll{};
        sll.sll_family = AF_PACKET;
        sll.sll_protocol = htons(s.ethertype);
        sll.sll_ifindex = static_cast<int>(if_nametoindex(t.dev(s.device).c_str()));
        if (bind(fd.fd, reinterpret_cast<sockaddr*>(&sll), sizeof sll) != 0)
            throw std::runtime_error(s.name + ": bind AF_PACKET: " + strerror(errno));
        if (s.ignore_outgoing)
            setopt(fd.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one,
                   s.name + " PACKET_IGNORE_OUTGOING");
        return fd;
    }
    bool udp = s.kind == SockKind::kUdp;
    Fd fd(socket(AF_INET, (udp ? SOCK_DGRAM : SOCK_RAW) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                 udp ? 0 : s.protocol));
    if (fd.fd < 0) throw std::runtime_error(s.name + ": socket: " + strerror(errno));
    if (s.reuseaddr)
        setopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one, s.name + " SO_REUSEADDR");
    if (s.reuseport)
        setopt(fd.fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one, s.name + " SO_REUSEPORT");
    if (!s.device.empty()) {
        std::string d = t.dev(s.device);
        setopt(fd.fd, SOL_SOCKET, SO_BINDTODEVICE, d.c_str(), static_cast<socklen_t>(d.size()),
               s.name + " SO_BINDTODEVICE");
    }
    int mall = s.multicast_all;
    setopt(fd.fd, IPPROTO_IP, IP_MULTICAST_ALL, &mall, sizeof mall, s.name + " IP_MULTICAST_ALL");
    if (s.recverr) setopt(fd.fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one, s.name + " IP_RECVERR");
    if (s.rcvbuf) {
        int rb = static_cast<int>(*s.rcvbuf);
        setopt(fd.fd, SOL_SOCKET, SO_RCVBUF, &rb, sizeof rb, s.name + " SO_RCVBUF");
    }
    if (s.icmp_filter) {
        // ICMP_FILTER from linux/icmp.h (which clashes with net/if.h): option 1 at SOL_RAW,
        // a 32-bit mask of the types to filter out.
        uint32_t f = *s.icmp_filter;
        setopt(fd.fd, SOL_RAW, 1, &f, sizeof f, s.name + " ICMP_FILTER");
    }
    if (udp || s.addr) {
        auto a = sin(s.addr, s.port);
        if (bind(fd.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error(s.name + ": bind: " + strerror(errno));
    }
    if (s.remote_addr) {
        auto a = sin(s.remote_addr, s.remote_port);
        if (connect(fd.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
            throw std::runtime_error(s.name + ": connect: " + strerror(errno));
    }
    kernel_joins(fd.fd, s, t);
    return fd;
}

// An error a receive call failed with (the pending sk_err), as the diff shows it.
const char* errno_name(int err) {
    const char* n = strerrorname_np(err);
    return n ? n : "?";
}
std::string error_record(int err) {
    return std::string("error ") + errno_name(err);
}

// One error-queue entry (recvmsg(MSG_ERRQUEUE) / Endpoint::recv_error) as the diff shows it:
// the sock_extended_err fields, the offender, msg_name and the payload.
std::string errq_record(uint32_t err, uint8_t origin, uint8_t type, uint8_t code, uint32_t info,
                        uint32_t offender, uint32_t to, uint16_t port, const uint8_t* data,
                        std::size_t len, bool trunc) {
    std::ostringstream os;
    os << "errqueue " << errno_name(static_cast<int>(err)) << " origin " << int{origin} << " type "
       << int{type} << " code " << int{code} << " info " << info << " offender "
       << addr_str(offender) << (trunc ? " trunc" : "");
    return record(os.str() + " name " + from_udp(to, port), data, len);
}

// The error side of an inet socket, after its data: every error-queue entry, then what a
// last receive reports (the pending error the queue left: none, in the kernel).
void drain_kernel_errors(const Socket& s, int fd, Observed& o) {
    static uint8_t buf[65536];
    for (;;) {
        sockaddr_in name{};
        iovec iov{buf, sizeof buf};
        alignas(cmsghdr) char ctl[512];
        msghdr mh{};
        mh.msg_name = &name;
        mh.msg_namelen = sizeof name;
        mh.msg_iov = &iov;
        mh.msg_iovlen = 1;
        mh.msg_control = ctl;
        mh.msg_controllen = sizeof ctl;
        const ssize_t n = recvmsg(fd, &mh, MSG_ERRQUEUE);
        if (n < 0) break;
        for (cmsghdr* c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            if (c->cmsg_level != SOL_IP || c->cmsg_type != IP_RECVERR) continue;
            sock_extended_err ee;
            std::memcpy(&ee, CMSG_DATA(c), sizeof ee);
            sockaddr_in off;
            std::memcpy(&off, CMSG_DATA(c) + sizeof ee, sizeof off);
            o.deliveries[s.compare_as].push_back(errq_record(
                ee.ee_errno, ee.ee_origin, ee.ee_type, ee.ee_code, ee.ee_info,
                ntohl(off.sin_addr.s_addr), ntohl(name.sin_addr.s_addr), ntohs(name.sin_port), buf,
                static_cast<std::size_t>(n), mh.msg_flags & MSG_TRUNC));
        }
    }
    if (recv(fd, buf, sizeof buf, MSG_PEEK) < 0 && errno != EAGAIN)
        o.deliveries[s.compare_as].push_back("after the queue: " + error_record(errno));
}

void drain_kernel(const Socket& s, int fd, Observed& o) {
    static uint8_t buf[65536];
    for (;;) {
        sockaddr_storage ss{};
        socklen_t sl = sizeof ss;
        ssize_t n = recvfrom(fd, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&ss), &sl);
        if (n < 0 && errno != EAGAIN && s.kind != SockKind::kTap) {
            // sock_error(): the pending error, once, before the queue.
            o.deliveries[s.compare_as].push_back(error_record(errno));
            continue;
        }
        if (n < 0) break;
        std::string from;
        if (s.kind == SockKind::kTap) {
            auto* sll = reinterpret_cast<sockaddr_ll*>(&ss);
            auto r = tap_record(s, sll->sll_pkttype, static_cast<uint32_t>(sll->sll_ifindex), buf,
                                static_cast<std::size_t>(n));
            if (r) o.deliveries[s.compare_as].push_back(std::move(*r));
            continue;
        } else {
            auto* in = reinterpret_cast<sockaddr_in*>(&ss);
            uint32_t a = ntohl(in->sin_addr.s_addr);
            from = s.kind == SockKind::kUdp ? from_udp(a, ntohs(in->sin_port)) : addr_str(a);
        }
        o.deliveries[s.compare_as].push_back(record(from, buf, static_cast<std::size_t>(n)));
    }
    if (s.kind != SockKind::kTap) drain_kernel_errors(s, fd, o);
}

// The unicast sources of the frames: the kernel needs a neighbour entry to send an ICMP
// error back (ingressd answers to the frame's source MAC).
std::set<uint32_t> frame_sources(const Scenario& sc) {
    std::set<uint32_t> s;
    for (const auto& f : sc.frames) {
        std::size_t l3 = 14;
        while (f.bytes.size() >= l3 && (f.bytes[l3 - 2] == 0x81 && f.bytes[l3 - 1] == 0x00))
            l3 += 4;
        if (f.bytes.size() < l3 + 20) continue;
        uint32_t a = ntohl(*reinterpret_cast<const uint32_t*>(&f.bytes[l3 + 12]));
        if (!wire::ipv4_is_zeronet(a) && !wire::ipv4_is_multicast(a) && !wire::ipv4_is_lbcast(a) &&
            !wire::ipv4_is_loopback(a))
            s.insert(a);
    }
    return s;
}

// The kernel's name of a logical device (main | second | lo | vlanN): the veth's, or, for a
// DPDK port under `host: kernel`, its exception TAP's.
using DevName = std::function<std::string(const std::string&)>;

// Permanent neighbour entries for the frames' sources, on every link a frame arrives by.
void add_neighbours(const std::string& ns, const Scenario& sc, const DevName& dev) {
    std::set<std::string> links;
    for (const auto& f : sc.frames) links.insert(f.via);
    for (const auto& link : links)
        for (uint32_t a : frame_sources(sc))
            test::sh("ip -n " + ns + " neigh replace " + addr_str(a) + " lladdr " + kPeerMac.str() +
                     " dev " + dev(link) + " nud permanent");
}

std::string route_cmd(const Route& r, const DevName& dev) {
    bool has_dev = r.type == "unicast" || r.type == "local" || r.type == "broadcast";
    return (r.type == "unicast" ? "" : r.type + " ") + r.prefix +
           (has_dev ? " dev " + dev(r.dev) : "") + (r.table.empty() ? "" : " table " + r.table);
}

// `ip rule add` for a scenario rule (the config's keys in iproute2's words).
std::string rule_cmd(const Rule& r, const DevName& dev) {
    std::string c;
    for (const auto& [k, v] : r) {
        if (k == "priority")
            c += " pref " + v;
        else if (k == "not")
            c += v == "true" ? " not" : "";
        else if (k == "iif" || k == "oif")
            c += " " + k + " " + dev(v);
        else if (k == "action")
            c += v == "lookup" ? "" : " " + v;
        else if (k == "table")
            c += " lookup " + v;
        else
            c += " " + k + " " + v;
    }
    return c;
}

}  // namespace

// The scenario's bindings as a BPF sk_lookup program attached to namespace a (the caller's
// current namespace), over a SOCKMAP holding, per label, the first socket registered under
// it (the label's other sockets are members of its SO_REUSEPORT group: the kernel's
// inet_lookup_reuseport() picks among them). Detached and freed on destruction.
class SkLookupProgram {
public:
    SkLookupProgram(const Scenario& sc, const std::vector<Fd>& fds) {
        obj_ = bpf_object__open_file(INGRESS_SK_LOOKUP_OBJ, nullptr);
        if (!obj_ || bpf_object__load(obj_) != 0)
            throw Unsupported("cannot load the sk_lookup program " INGRESS_SK_LOOKUP_OBJ);
        const int bindings = bpf_object__find_map_fd_by_name(obj_, "bindings");
        const int labels = bpf_object__find_map_fd_by_name(obj_, "labels");
        std::vector<std::string> names;  // label index -> name
        auto index_of = [&](const std::string& l) {
            auto it = std::find(names.begin(), names.end(), l);
            if (it != names.end()) return static_cast<uint32_t>(it - names.begin());
            names.push_back(l);
            return static_cast<uint32_t>(names.size() - 1);
        };
        struct Entry {
            uint32_t prefix, mask;
            uint16_t port_lo, port_hi;
            uint32_t label;
            uint8_t used, prefix_len, drop, no_reuseport;
        };
        if (sc.bindings.size() > 16) throw std::runtime_error("more than 16 bindings");
        for (uint32_t i = 0; i < sc.bindings.size(); ++i) {
            const ScBinding& b = sc.bindings[i];
            Entry e{b.prefix,
                    b.prefix_len ? ~0u << (32 - b.prefix_len) : 0,
                    b.port_lo,
                    b.port_hi,
                    b.label.empty() ? 0 : index_of(b.label),
                    1,
                    b.prefix_len,
                    static_cast<uint8_t>(b.label.empty()),
                    static_cast<uint8_t>(b.no_reuseport)};
            if (bpf_map_update_elem(bindings, &i, &e, BPF_ANY) != 0)
                throw std::runtime_error("bindings map: " + std::string(strerror(errno)));
        }
        for (std::size_t i = 0; i < sc.sockets.size(); ++i) {
            const Socket& s = sc.sockets[i];
            if (s.label.empty()) continue;
            const uint32_t k = index_of(s.label);
            uint64_t fd = static_cast<uint64_t>(fds[i].fd);
            // The first registered socket holds the slot (BPF_NOEXIST: later ones do not).
            if (bpf_map_update_elem(labels, &k, &fd, BPF_NOEXIST) != 0 && errno != EEXIST)
                throw std::runtime_error(s.name + ": SOCKMAP: " + strerror(errno));
        }
        const int netns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
        link_ = bpf_program__attach_netns(bpf_object__find_program_by_name(obj_, "bindings_lookup"),
                                          netns);
        close(netns);
        if (!link_ || libbpf_get_error(link_)) {
            link_ = nullptr;
            throw Unsupported("cannot attach an sk_lookup program to the namespace");
        }
    }
    ~SkLookupProgram() {
        if (link_) bpf_link__destroy(link_);
        if (obj_) bpf_object__close(obj_);
    }
    SkLookupProgram(const SkLookupProgram&) = delete;
    SkLookupProgram& operator=(const SkLookupProgram&) = delete;

private:
    bpf_object* obj_ = nullptr;
    bpf_link* link_ = nullptr;
};

// Namespace a configured from the scenario with `ip` and `sysctl`, as an operator configures a
// host: the kernel side's whole host, and what ingressd mirrors under `host: kernel` (`dev`:
// the kernel's name of each logical device).
static void configure_namespace(const Scenario& sc, const Topology& t, const DevName& dev) {
    const std::string& ns = t.pair().ns_a();
    const std::string main = dev("main");
    add_addresses(ns, main, sc.host.addresses);
    if (!sc.host.second.empty()) add_addresses(ns, dev("second"), sc.host.second);
    add_addresses(ns, "lo", sc.host.lo);
    for (const auto& v : sc.host.vlans) {
        std::string d = dev("vlan" + std::to_string(v.id));
        if (test::sh("ip -n " + ns + " link add link " + main + " name " + d + " type vlan id " +
                     std::to_string(v.id)) != 0)
            throw Unsupported("this kernel cannot create VLAN devices (8021q)");
        must("ip -n " + ns + " link set " + d + " up");
        add_addresses(ns, d, v.addresses);
    }
    sysctls(ns, "net.ipv4.conf.all.", with_defaults(sc.host.all));
    sysctls(ns, "net.ipv4.conf." + main + ".", with_defaults(sc.host.conf));
    if (!sc.host.second.empty())
        sysctls(ns, "net.ipv4.conf." + dev("second") + ".", with_defaults(sc.host.second_conf));
    sysctls(ns, "net.ipv4.", sc.host.ipv4);
    for (const auto& r : sc.host.routes) must("ip -n " + ns + " route add " + route_cmd(r, dev));
    for (const auto& r : sc.host.rules) must("ip -n " + ns + " rule add" + rule_cmd(r, dev));
    add_neighbours(ns, sc, dev);
}

Observed run_kernel(const Scenario& sc) {
    Topology t(sc.host);
    configure_namespace(sc, t, [&](const std::string& l) { return t.dev(l); });

    Observed o;
    t.pair().enter_a();
    std::vector<Fd> fds;
    for (const auto& s : sc.sockets) fds.push_back(open_kernel_socket(s, t));
    std::unique_ptr<SkLookupProgram> prog;
    if (!sc.bindings.empty()) prog = std::make_unique<SkLookupProgram>(sc, fds);
    auto before = read_proc_counters();
    t.pair().leave();
    o.icmp = inject(t, sc, [&] { sleep_ms(60 + sc.settle_ms); });
    t.pair().enter_a();
    for (std::size_t i = 0; i < sc.sockets.size(); ++i) drain_kernel(sc.sockets[i], fds[i].fd, o);
    deltas(o, before, read_proc_counters());
    t.pair().leave();
    finish_deliveries(sc, o);
    return o;
}

// ingressd -----------------------------------------------------------------------------------

namespace {

std::string yaml_knobs(const Knobs& k) {
    std::string s = "{";
    for (const auto& [n, v] : k) s += (s.size() > 1 ? ", " : "") + n + ": " + std::to_string(v);
    return s + "}";
}

std::string yaml_list(const std::vector<std::string>& v) {
    std::string s = "[";
    for (const auto& e : v) s += (s.size() > 1 ? ", " : "") + e;
    return s + "]";
}

// How an interface is driven, as config lines: AF_XDP, or DPDK's net_af_xdp vdev number
// `n` with a TAP of its own (its name in *tap_out).
std::string port_lines(const std::string& driver, const std::string& dev, int n,
                       std::string* tap_out) {
    if (driver != "dpdk") return "";
    static int serial = 0;
    const std::string tap =
        ("dfx" + std::to_string(getpid()) + "x" + std::to_string(serial++)).substr(0, 15);
    *tap_out = tap;
    return "    driver: dpdk\n    device: net_af_xdp" + std::to_string(n) + ",iface=" + dev +
           "\n    exception: " + tap + "\n";
}

// What both kinds of config have after the host's state: DPDK's EAL, bindings, control.
std::string ingressd_config_rest(const Scenario& sc, const std::string& ctl,
                                 const std::string& driver) {
    std::string c;
    if (driver == "dpdk")
        c += "dpdk:\n  eal_args: [-l, \"0\", --no-huge, --no-pci, -m, \"256\", --no-shconf, "
             "--file-prefix, dfx" +
             std::to_string(getpid()) + ", --log-level, \"*:warning\"]\n";
    if (!sc.bindings.empty()) {
        c += "bindings:\n";
        for (const ScBinding& b : sc.bindings) {
            c += "  - {protocol: udp, prefix: " + addr_str(b.prefix) + "/" +
                 std::to_string(b.prefix_len) + ", ports: " + std::to_string(b.port_lo) + "-" +
                 std::to_string(b.port_hi) +
                 (b.label.empty() ? ", action: drop" : ", label: " + b.label) +
                 (b.no_reuseport ? ", no_reuseport: true" : "") + "}\n";
        }
    }
    c += "control:\n  socket: " + ctl + "\n";
    return c;
}

// `taps`: each DPDK port's TAP by logical device name. `host_kernel`: the file names only the
// ports (`host: kernel`); the host's state is namespace a's, read through netlink and sysctl.
std::string ingressd_config(const Scenario& sc, const Topology& t, const std::string& ctl,
                            const std::string& driver, bool host_kernel,
                            std::map<std::string, std::string>& taps) {
    const Host& h = sc.host;
    const std::string capture = sc.steered ? "false" : "true";
    std::string c = "interfaces:\n  - name: " + t.dev("main") + "\n" +
                    port_lines(driver, t.dev("main"), 0, &taps["main"]) +
                    "    queues: 1\n    capture_all: " + capture + "\n";
    if (host_kernel) {
        if (!h.second.empty())
            c += "  - name: " + t.dev("second") + "\n" +
                 port_lines(driver, t.dev("second"), 1, &taps["second"]) +
                 "    queues: 1\n    capture_all: " + capture + "\n";
        c += "host: kernel\n";
        return c + ingressd_config_rest(sc, ctl, driver);
    }
    c += "    addresses: " + yaml_list(h.addresses) + "\n    conf: " + yaml_knobs(h.conf) + "\n";
    if (!h.vlans.empty()) {
        c += "    vlans:\n";
        for (const auto& v : h.vlans)
            c += "      - {id: " + std::to_string(v.id) + ", addresses: " + yaml_list(v.addresses) +
                 "}\n";
    }
    if (!h.second.empty())
        c += "  - name: " + t.dev("second") + "\n" +
             port_lines(driver, t.dev("second"), 1, &taps["second"]) +
             "    queues: 1\n    capture_all: " + capture +
             "\n    addresses: " + yaml_list(h.second) +
             "\n    conf: " + yaml_knobs(h.second_conf) + "\n";
    c += "all: " + yaml_knobs(h.all) + "\n";
    if (!h.lo.empty()) c += "loopback:\n  addresses: " + yaml_list(h.lo) + "\n";
    if (!h.routes.empty()) {
        c += "routes:\n";
        for (const auto& r : h.routes) {
            c += "  - {prefix: " + r.prefix + ", type: " + r.type;
            if (r.type == "unicast" || r.type == "local" || r.type == "broadcast")
                c += ", dev: " + t.dev(r.dev);
            if (!r.table.empty()) c += ", table: " + r.table;
            c += "}\n";
        }
    }
    if (!h.rules.empty()) {
        c += "rules:\n";
        for (const auto& r : h.rules) {
            std::string line;
            for (const auto& [k, v] : r)
                line += (line.empty() ? "" : ", ") + k + ": \"" +
                        (k == "iif" || k == "oif" ? t.dev(v) : v) + "\"";
            c += "  - {" + line + "}\n";
        }
    }
    if (!h.ipv4.empty()) c += "ipv4: " + yaml_knobs(h.ipv4) + "\n";
    return c + ingressd_config_rest(sc, ctl, driver);
}

// ingressd in namespace a, stopped (SIGINT, then SIGKILL) on destruction.
class Daemon {
public:
    Daemon(const std::string& bin, const std::string& ns, const std::string& dir) : dir_(dir) {
        pid_ = fork();
        if (pid_ == 0) {
            int out = open((dir + "/out").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            int err = open((dir + "/log").c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            dup2(out, 1);
            dup2(err, 2);
            std::string cfg = dir + "/ingressd.yaml";
            execlp("ip", "ip", "netns", "exec", ns.c_str(), bin.c_str(), "--config", cfg.c_str(),
                   static_cast<char*>(nullptr));
            _exit(127);
        }
        for (int i = 0; i < 200; ++i) {
            if (log().find("worker(s) up") != std::string::npos) return;
            int st;
            if (waitpid(pid_, &st, WNOHANG) == pid_) {
                pid_ = -1;
                break;
            }
            sleep_ms(25);
        }
        throw std::runtime_error("ingressd did not come up:\n" + log());
    }
    ~Daemon() {
        if (pid_ <= 0) return;
        kill(pid_, SIGINT);
        for (int i = 0; i < 200; ++i) {
            int st;
            if (waitpid(pid_, &st, WNOHANG) == pid_) return;
            sleep_ms(10);
        }
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
    }
    std::string log() const {
        std::ifstream in(dir_ + "/log");
        return std::string(std::istreambuf_iterator<char>(in), {});
    }

private:
    std::string dir_;
    pid_t pid_ = -1;
};

struct TmpDir {
    std::string path;
    TmpDir() {
        char t[] = "/tmp/ingress-diff-XXXXXX";
        if (!mkdtemp(t)) throw std::runtime_error("mkdtemp");
        path = t;
    }
    ~TmpDir() { test::sh("rm -rf " + path); }
};

}  // namespace

Observed run_ingressd(const Scenario& sc, const std::string& ingressd_path,
                      const std::string& driver, const std::string& host) {
    Topology t(sc.host);
    TmpDir dir;
    std::map<std::string, std::string> taps;
    const bool host_kernel = host == "kernel";
    // AF_XDP: the veths are the ports' kernel side, configured before ingressd starts.
    if (host_kernel && driver != "dpdk")
        configure_namespace(sc, t, [&](const std::string& l) { return t.dev(l); });
    {
        std::ofstream cfg(dir.path + "/ingressd.yaml");
        cfg << ingressd_config(sc, t, dir.path + "/ctl.sock", driver, host_kernel, taps);
    }
    Daemon d(ingressd_path, t.pair().ns_a(), dir.path);
    if (host_kernel && driver == "dpdk") {
        // DPDK: a port's kernel side is its exception TAP, which exists once ingressd runs
        // (docs/dpdk.md): configure the TAPs, then a reload, which under host: kernel
        // reads the netconf knobs and a fresh dump before it replies.
        if (!sc.host.vlans.empty()) throw Unsupported("VLAN devices on a DPDK port's TAP");
        configure_namespace(sc, t, [&](const std::string& l) {
            auto it = taps.find(l);
            return it == taps.end() || it->second.empty() ? t.dev(l) : it->second;
        });
        const std::string ctl = (std::filesystem::path(ingressd_path).parent_path().parent_path() /
                                 "tools" / "ingressctl")
                                    .string();
        must(ctl + " --socket " + dir.path + "/ctl.sock reload > /dev/null");
    }
    auto client = std::make_unique<Client>(Client::connect(dir.path + "/ctl.sock"));
    // What an app names as the interface: on DPDK a port's ifindex is its TAP's, the
    // kernel's side of a port the kernel no longer drives (docs/dpdk.md).
    auto ifindex = [&](const std::string& logical) -> uint32_t {
        auto it = taps.find(logical);
        if (it == taps.end() || it->second.empty()) return t.ifindex(logical);
        t.pair().enter_a();
        const uint32_t i = if_nametoindex(it->second.c_str());
        t.pair().leave();
        return i;
    };
    std::vector<Endpoint> eps;
    for (const auto& s : sc.sockets) {
        uint32_t ifx = ifindex(s.device);
        Endpoint ep;
        switch (s.kind) {
            case SockKind::kUdp:
                ep = client->open_udp({.addr = s.addr,
                                       .port = s.port,
                                       .remote_addr = s.remote_addr,
                                       .remote_port = s.remote_port,
                                       .ifindex = ifx,
                                       .reuseport = s.reuseport,
                                       .reuseaddr = s.reuseaddr,
                                       .multicast_all = s.multicast_all,
                                       // SO_RCVBUF 0 is a request too (SOCK_MIN_RCVBUF),
                                       // which the options spell 1 (0: never set).
                                       .rcvbuf = s.rcvbuf ? std::max(*s.rcvbuf, 1u) : 0,
                                       .recverr = s.recverr});
                break;
            case SockKind::kRaw:
                ep = client->open_raw({.protocol = s.protocol,
                                       .addr = s.addr,
                                       .remote_addr = s.remote_addr,
                                       .ifindex = ifx,
                                       .icmp_filter = s.icmp_filter.value_or(0),
                                       .multicast_all = s.multicast_all,
                                       .recverr = s.recverr});
                break;
            case SockKind::kTap:
                ep = client->open_tap({.ethertype = s.ethertype,
                                       .ifindex = ifx,
                                       .dgram = s.dgram,
                                       .ignore_outgoing = s.ignore_outgoing});
                break;
        }
        for (const auto& j : s.joins) ep.join(j.group, ifindex(j.device), j.sources, j.include);
        if (!s.label.empty()) ep.register_label(s.label);
        eps.push_back(std::move(ep));
    }
    sleep_ms(30);  // endpoint tables are published to the workers by RCU
    Observed o;
    auto before = parse_stats(client->stats());
    // Steered: what the ports leave to namespace a's kernel is counted there.
    t.pair().enter_a();
    const auto kernel_before = read_proc_counters();
    t.pair().leave();
    o.icmp = inject(t, sc, [&] {
        // Every frame reaches the dataplane (capture_all), or the number the scenario says
        // does (steered): wait until the worker saw them all.
        const int64_t want =
            sc.steered ? sc.dataplane_frames.value_or(0) : static_cast<int64_t>(sc.frames.size());
        for (int i = 0; i < 300; ++i) {
            auto now = parse_stats(client->stats());
            if (now["IngressRx"] - before["IngressRx"] >= want) break;
            sleep_ms(10);
        }
        sleep_ms((sc.steered ? 60 : 30) + sc.settle_ms);
    });
    for (std::size_t i = 0; i < sc.sockets.size(); ++i) {
        const Socket& s = sc.sockets[i];
        Datagram dg[64];
        for (;;) {
            std::size_t n;
            try {
                n = eps[i].recv(dg, 64, 0);
            } catch (const ingress::SocketError& e) {  // the pending error, once
                o.deliveries[s.compare_as].push_back(error_record(e.code()));
                continue;
            }
            if (n == 0) break;
            for (std::size_t k = 0; k < n; ++k) {
                const shm::SlotMeta* m = dg[k].meta;
                if (s.kind == SockKind::kTap) {
                    auto r = tap_record(s, m->pkt_type, m->ifindex, dg[k].data, dg[k].len);
                    if (r) o.deliveries[s.compare_as].push_back(std::move(*r));
                    continue;
                }
                std::string from = s.kind == SockKind::kUdp ? from_udp(m->src_addr, m->src_port)
                                                            : addr_str(m->src_addr);
                o.deliveries[s.compare_as].push_back(record(from, dg[k].data, dg[k].len));
            }
        }
        if (s.kind == SockKind::kTap) continue;
        // The error queue, then what a last receive reports (drain_kernel_errors).
        static uint8_t buf[65536];
        for (ingress::ErrorMessage em; eps[i].recv_error(em, buf, sizeof buf);)
            o.deliveries[s.compare_as].push_back(
                errq_record(em.ee.ee_errno, em.ee.ee_origin, em.ee.ee_type, em.ee.ee_code,
                            em.ee.ee_info, em.ee.offender, ntohl(em.addr.sin_addr.s_addr),
                            ntohs(em.addr.sin_port), buf, em.len, em.msg_flags & MSG_TRUNC));
        try {
            eps[i].recv(dg, 64, 0);  // nothing is left but what the queue left pending
        } catch (const ingress::SocketError& e) {
            o.deliveries[s.compare_as].push_back("after the queue: " + error_record(e.code()));
        }
    }
    const auto after = parse_stats(client->stats());
    deltas(o, before, after);
    if (sc.steered) {
        // The host is ingressd plus the kernel it left the rest to.
        Observed k;
        t.pair().enter_a();
        deltas(k, kernel_before, read_proc_counters());
        t.pair().leave();
        for (const auto& [n, v] : k.counters) o.counters[n] += v;
        // A pseudo-counter only this side has: compare() reports it as a mismatch.
        const int64_t rx = after.at("IngressRx") - before.at("IngressRx");
        if (sc.dataplane_frames && rx != *sc.dataplane_frames)
            o.counters["DataplaneFrames(want " + std::to_string(*sc.dataplane_frames) + ")"] = rx;
    }
    eps.clear();
    client.reset();
    finish_deliveries(sc, o);
    return o;
}

}  // namespace ingress::diff
