#include "scenario.h"

#include <cstdio>
#include <stdexcept>

#include "wire/frame_builder.h"
#include "wire/ipv4.h"

namespace ingress::diff {
namespace {

std::runtime_error bad(const std::string& what) {
    return std::runtime_error(what);
}

std::pair<uint32_t, uint16_t> parse_endpoint(const std::string& s) {
    auto colon = s.rfind(':');
    if (colon == std::string::npos) return {parse_addr(s), 0};
    return {parse_addr(s.substr(0, colon)), static_cast<uint16_t>(std::stoul(s.substr(colon + 1)))};
}

std::vector<std::string> strings(const YAML::Node& n) {
    std::vector<std::string> v;
    if (n)
        for (const auto& e : n) v.push_back(e.as<std::string>());
    return v;
}

Knobs knobs(const YAML::Node& n) {
    Knobs k;
    if (n)
        for (const auto& e : n) k[e.first.as<std::string>()] = e.second.as<int64_t>();
    return k;
}

wire::Mac mac(const YAML::Node& n, uint32_t dst_ip) {
    std::string s = n.as<std::string>();
    if (s == "host") return kHostMac;
    if (s == "peer") return kPeerMac;
    if (s == "broadcast") return wire::Mac::broadcast();
    if (s == "multicast") return wire::Mac::for_ipv4_multicast(dst_ip);
    if (s == "other") return wire::Mac{{0x02, 0x00, 0x5e, 0x10, 0x00, 0x99}};
    auto m = wire::Mac::parse(s);
    if (!m) throw bad("bad MAC '" + s + "'");
    return *m;
}

std::vector<uint8_t> hex_bytes(const std::string& s) {
    std::vector<uint8_t> v;
    for (std::size_t i = 0; i + 1 < s.size(); i += 2) {
        if (s[i] == ' ') {
            --i;
            continue;
        }
        v.push_back(static_cast<uint8_t>(std::stoul(s.substr(i, 2), nullptr, 16)));
    }
    return v;
}

// One `frames:` entry -> `repeat` frames.
void parse_frame(const YAML::Node& f, std::vector<Frame>& out) {
    int delay = f["delay_ms"] ? f["delay_ms"].as<int>() : 0;
    int repeat = f["repeat"] ? f["repeat"].as<int>() : 1;
    std::vector<uint8_t> bytes;
    if (f["hex"]) {
        bytes = hex_bytes(f["hex"].as<std::string>());
    } else {
        uint32_t src = parse_addr(f["src"] ? f["src"].as<std::string>() : "198.18.0.2");
        uint32_t dst = parse_addr(f["dst"] ? f["dst"].as<std::string>() : "198.18.0.1");
        wire::FrameBuilder b;
        b.eth(f["eth_src"] ? mac(f["eth_src"], dst) : kPeerMac,
              f["eth_dst"]
                  ? mac(f["eth_dst"], dst)
                  : (wire::ipv4_is_multicast(dst) ? wire::Mac::for_ipv4_multicast(dst) : kHostMac));
        if (auto v = f["vlan"]) b.vlan(v.as<uint16_t>());
        if (auto v = f["ethertype"]) b.ethertype(v.as<uint16_t>());
        b.ipv4(src, dst);
        if (auto v = f["ttl"]) b.ttl(v.as<uint8_t>());
        if (auto v = f["tos"]) b.tos(v.as<uint8_t>());
        if (auto v = f["id"]) b.ip_id(v.as<uint16_t>());
        if (auto v = f["df"]) b.df(v.as<bool>());
        if (auto v = f["options"]) b.ip_options(hex_bytes(v.as<std::string>()));
        if (auto v = f["version"]) b.ip_version(v.as<uint8_t>());
        if (auto v = f["ihl"]) b.ip_ihl(v.as<uint8_t>());
        if (auto v = f["tot_len"]) b.ip_tot_len(v.as<uint16_t>());
        if (f["bad_ip_csum"]) b.bad_ip_checksum();
        if (auto v = f["udp"]) b.udp(v[0].as<uint16_t>(), v[1].as<uint16_t>());
        if (auto v = f["icmp"])
            b.icmp(v[0].as<uint8_t>(), v[1].as<uint8_t>(), v[2] ? v[2].as<uint32_t>() : 0);
        if (auto v = f["proto"]) b.protocol(v.as<uint8_t>());
        if (auto v = f["udp_len"]) b.udp_length(v.as<uint16_t>());
        if (f["bad_udp_csum"]) b.bad_udp_checksum();
        if (f["zero_udp_csum"]) b.zero_udp_checksum();
        if (f["bad_icmp_csum"]) b.bad_icmp_checksum();
        if (auto v = f["payload"]) b.payload_size(v.as<std::size_t>());
        if (auto v = f["payload_hex"]) b.payload(hex_bytes(v.as<std::string>()));
        if (auto v = f["pad_to"]) b.pad_to(v.as<std::size_t>());
        if (auto v = f["truncate"]) b.truncate(v.as<std::size_t>());
        if (auto fr = f["frag"]) {
            // A fragment cut from the datagram's transport bytes: [offset, offset + len).
            uint32_t off = fr["offset"].as<uint32_t>();
            uint32_t len = fr["len"] ? fr["len"].as<uint32_t>()
                                     : static_cast<uint32_t>(b.l4_bytes().size()) - off;
            bytes = b.build_fragment(off, len, fr["more"] && fr["more"].as<bool>());
        } else {
            bytes = b.build();
        }
    }
    const std::string via = f["via"] ? f["via"].as<std::string>() : "main";
    if (via != "main" && via != "second") throw bad("via: main or second, not '" + via + "'");
    for (int i = 0; i < repeat; ++i) out.push_back({bytes, i == 0 ? delay : 0, via});
}

Socket parse_socket(const YAML::Node& n, std::size_t index) {
    Socket s;
    s.name = n["name"] ? n["name"].as<std::string>() : "s" + std::to_string(index);
    if (auto u = n["udp"]) {
        s.kind = SockKind::kUdp;
        std::tie(s.addr, s.port) = parse_endpoint(u.as<std::string>());
    } else if (auto r = n["raw"]) {
        s.kind = SockKind::kRaw;
        s.protocol = r.as<uint8_t>();
        if (auto b = n["bind"]) s.addr = parse_addr(b.as<std::string>());
    } else if (auto t = n["tap"]) {
        s.kind = SockKind::kTap;
        std::string e = t.as<std::string>();
        s.ethertype = e == "all" ? 0x0003 : static_cast<uint16_t>(std::stoul(e, nullptr, 0));
        s.dgram = n["dgram"] && n["dgram"].as<bool>();
        s.outgoing = n["outgoing"] && n["outgoing"].as<bool>();
        s.ignore_outgoing = n["ignore_outgoing"] && n["ignore_outgoing"].as<bool>();
        s.device = "main";  // a tap on every interface would see the namespace's loopback too
    } else {
        throw bad("socket " + s.name + ": needs udp, raw or tap");
    }
    if (auto c = n["connect"])
        std::tie(s.remote_addr, s.remote_port) = parse_endpoint(c.as<std::string>());
    if (auto d = n["device"]) s.device = d.as<std::string>();
    if (auto v = n["reuseport"]) s.reuseport = v.as<bool>();
    if (auto v = n["reuseaddr"]) s.reuseaddr = v.as<bool>();
    if (auto v = n["multicast_all"]) s.multicast_all = v.as<bool>();
    if (auto v = n["icmp_filter"]) s.icmp_filter = v.as<uint32_t>();
    if (auto v = n["rcvbuf"]) s.rcvbuf = v.as<uint32_t>();
    if (auto v = n["recverr"]) s.recverr = v.as<bool>();
    s.compare_as = n["compare_as"] ? n["compare_as"].as<std::string>() : s.name;
    if (auto js = n["joins"]) {
        for (const auto& j : js) {
            Join x;
            x.group = parse_addr(j["group"].as<std::string>());
            if (j["include"])
                for (const auto& a : strings(j["include"])) x.sources.push_back(parse_addr(a));
            if (j["exclude"]) {
                x.include = false;
                for (const auto& a : strings(j["exclude"])) x.sources.push_back(parse_addr(a));
            }
            if (j["device"]) x.device = j["device"].as<std::string>();
            if (x.device != "main" && x.device != "second")
                throw std::runtime_error(s.name + ": a join's device: main or second, not '" +
                                         x.device + "'");
            s.joins.push_back(x);
        }
    }
    if (auto l = n["label"]) s.label = l.as<std::string>();
    return s;
}

ScBinding parse_binding(const YAML::Node& n) {
    ScBinding b;
    std::string p = n["prefix"].as<std::string>();
    const auto slash = p.find('/');
    b.prefix = parse_addr(p.substr(0, slash));
    if (slash != std::string::npos)
        b.prefix_len = static_cast<uint8_t>(std::stoi(p.substr(slash + 1)));
    if (b.prefix_len < 32) b.prefix &= b.prefix_len ? ~0u << (32 - b.prefix_len) : 0;
    if (auto ports = n["ports"]) {
        const std::string v = ports.as<std::string>();
        if (v != "all") {
            const auto dash = v.find('-');
            b.port_lo = static_cast<uint16_t>(std::stoi(v.substr(0, dash)));
            b.port_hi = dash == std::string::npos
                            ? b.port_lo
                            : static_cast<uint16_t>(std::stoi(v.substr(dash + 1)));
        }
    }
    if (auto l = n["label"]) b.label = l.as<std::string>();
    if (auto a = n["action"]; !a && b.label.empty())
        throw bad("a binding needs label or action: drop");
    if (auto r = n["no_reuseport"]) b.no_reuseport = r.as<bool>();
    return b;
}

}  // namespace

uint32_t parse_addr(const std::string& s) {
    auto a = wire::parse_ipv4(s);
    if (!a) throw bad("bad IPv4 address '" + s + "'");
    return *a;
}

Scenario parse_scenario(const YAML::Node& n, const std::string& file) {
    Scenario sc;
    sc.file = file;
    sc.source = n;
    sc.name = n["name"].as<std::string>();
    try {
        if (auto v = n["what"]) sc.what = v.as<std::string>();
        if (auto v = n["differs"]) sc.differs = v.as<std::string>();
        if (auto v = n["known"]) sc.known = v.as<std::string>();
        if (auto v = n["settle_ms"]) sc.settle_ms = v.as<int>();
        if (auto v = n["steered"]) sc.steered = v.as<bool>();
        if (auto v = n["dataplane_frames"]) {
            sc.dataplane_frames = v.as<int64_t>();
            sc.steered = true;
        }
        if (auto h = n["host"]) {
            if (h["addresses"]) sc.host.addresses = strings(h["addresses"]);
            sc.host.second = strings(h["second"]);
            sc.host.lo = strings(h["lo"]);
            sc.host.conf = knobs(h["conf"]);
            sc.host.second_conf = knobs(h["second_conf"]);
            sc.host.all = knobs(h["all"]);
            sc.host.ipv4 = knobs(h["ipv4"]);
            if (auto vs = h["vlans"])
                for (const auto& v : vs)
                    sc.host.vlans.push_back({v["id"].as<uint16_t>(), strings(v["addresses"])});
            if (auto rs = h["routes"])
                for (const auto& r : rs) {
                    Route x;
                    x.prefix = r["prefix"].as<std::string>();
                    if (r["type"]) x.type = r["type"].as<std::string>();
                    if (r["dev"]) x.dev = r["dev"].as<std::string>();
                    if (r["table"]) x.table = r["table"].as<std::string>();
                    sc.host.routes.push_back(x);
                }
            if (auto rs = h["rules"])
                for (const auto& r : rs) {
                    Rule x;
                    for (const auto& kv : r)
                        x.emplace_back(kv.first.as<std::string>(), kv.second.as<std::string>());
                    sc.host.rules.push_back(x);
                }
        }
        if (auto ss = n["sockets"])
            for (std::size_t i = 0; i < ss.size(); ++i)
                sc.sockets.push_back(parse_socket(ss[i], i));
        for (const auto& f : n["frames"]) parse_frame(f, sc.frames);
        if (auto bs = n["bindings"])
            for (const auto& b : bs) sc.bindings.push_back(parse_binding(b));
    } catch (const std::exception& e) {
        throw bad(file + ": scenario " + sc.name + ": " + e.what());
    }
    return sc;
}

std::vector<Scenario> load_file(const std::string& path) {
    YAML::Node root = YAML::LoadFile(path);
    std::vector<Scenario> v;
    for (const auto& n : root["scenarios"]) v.push_back(parse_scenario(n, path));
    return v;
}

std::string record(const std::string& from, const uint8_t* data, std::size_t len) {
    // FNV-1a over the whole datagram, so two long ones that differ past the shown bytes differ.
    uint32_t h = 2166136261u;
    for (std::size_t i = 0; i < len; ++i) h = (h ^ data[i]) * 16777619u;
    std::string s = from + " len " + std::to_string(len) + " ";
    char buf[16];
    for (std::size_t i = 0; i < len && i < 48; ++i) {
        std::snprintf(buf, sizeof buf, "%02x", data[i]);
        s += buf;
    }
    if (len > 48) {
        std::snprintf(buf, sizeof buf, "..#%08x", h);
        s += buf;
    }
    return s;
}

const std::vector<std::string>& compared_counters() {
    static const std::vector<std::string> v{
        "IpInReceives", "IpInHdrErrors", "IpInAddrErrors", "IpInUnknownProtos", "IpInDiscards",
        "IpInDelivers", "IpReasmTimeout", "IpReasmReqds", "IpReasmOKs", "IpReasmFails",
        "IpExtInNoRoutes", "IpExtInTruncatedPkts", "IpExtInMcastPkts", "IpExtInBcastPkts",
        "IpExtInOctets", "IpExtInCsumErrors", "IpExtReasmOverlaps", "UdpInDatagrams", "UdpNoPorts",
        "UdpInErrors", "UdpRcvbufErrors", "UdpInCsumErrors", "UdpIgnoredMulti",
        "TcpExtIPReversePathFilter", "IcmpOutDestUnreachs", "IcmpOutTimeExcds", "IcmpOutParmProbs",
        // icmp_rcv and the replies (issue 17).
        "IcmpInMsgs", "IcmpInErrors", "IcmpInCsumErrors", "IcmpInDestUnreachs", "IcmpInTimeExcds",
        "IcmpInParmProbs", "IcmpInEchos", "IcmpInEchoReps", "IcmpInTimestamps", "IcmpOutMsgs",
        "IcmpOutEchoReps", "IcmpOutTimestampReps", "IcmpMsgInType0", "IcmpMsgInType3",
        "IcmpMsgInType8", "IcmpMsgInType13", "IcmpMsgOutType0", "IcmpMsgOutType3",
        "IcmpMsgOutType14"};
    return v;
}

YAML::Node random_scenario(std::mt19937_64& rng, int index, int frames) {
    auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<uint64_t>(n)); };
    YAML::Node sc;
    sc["name"] = "random-" + std::to_string(index);
    YAML::Node host;
    host["addresses"].push_back("198.18.0.1/24");
    host["conf"]["rp_filter"] = pick(3);
    const int accept_local = pick(2);
    host["conf"]["accept_local"] = accept_local;
    // Per-host and global ICMP rate limits depend on wall-clock time between frames, which
    // differs between the two runs: off here (the corpus has its own rate-limit scenarios).
    host["ipv4"]["icmp_ratemask"] = 0;
    sc["host"] = host;

    const char* dsts[] = {"198.18.0.1", "198.18.0.255", "255.255.255.255", "239.1.1.1",
                          "239.1.1.2",  "198.18.0.77",  "198.19.0.1"};
    const char* srcs[] = {"198.18.0.2", "198.18.0.3", "198.19.5.5", "198.18.0.1", "0.0.0.0"};
    const uint16_t ports[] = {5000, 5001, 5002};

    YAML::Node socks;
    int nsock = 1 + pick(5);
    bool reuse_group = false;
    for (int i = 0; i < nsock; ++i) {
        YAML::Node s;
        s["name"] = "s" + std::to_string(i);
        int kind = pick(10);
        if (kind < 7) {
            const char* addrs[] = {"0.0.0.0", "198.18.0.1", "239.1.1.1", "198.18.0.255"};
            std::string a = addrs[pick(4)];
            s["udp"] = a + ":" + std::to_string(ports[pick(3)]);
            if (pick(4) == 0)
                s["connect"] = std::string(srcs[pick(2)]) + ":" + std::to_string(4000 + pick(2));
            if (pick(3) == 0 && !reuse_group) {
                // One reuseport group on port 5009: compared as one multiset.
                reuse_group = true;
                s["udp"] = "0.0.0.0:5009";
                s.remove("connect");
                int members = 2 + pick(2);
                for (int m = 0; m < members; ++m) {
                    YAML::Node r;
                    r["name"] = "rp" + std::to_string(m);
                    r["udp"] = "0.0.0.0:5009";
                    r["reuseport"] = true;
                    r["compare_as"] = "reuseport-5009";
                    socks.push_back(r);
                }
                continue;
            }
            s["reuseaddr"] = true;
        } else if (kind < 9) {
            s["raw"] = pick(2) ? 17 : 253;
        } else {
            s["tap"] = pick(2) ? "all" : "0x0800";
            s["dgram"] = pick(2) == 0;
        }
        if (!s["tap"] && pick(3) == 0) {
            YAML::Node j;
            j["group"] = pick(2) ? "239.1.1.1" : "239.1.1.2";
            if (pick(3) == 0) j[pick(2) ? "include" : "exclude"].push_back("198.18.0.2");
            s["joins"].push_back(j);
            if (pick(3) == 0) s["multicast_all"] = false;
        }
        if (!s["tap"] && pick(6) == 0) s["device"] = "main";
        socks.push_back(s);
    }
    sc["sockets"] = socks;

    YAML::Node fs;
    uint16_t next_id = 100;
    for (int i = 0; i < frames;) {
        YAML::Node f;
        std::string dst = dsts[pick(7)];
        std::string src = pick(4) ? srcs[0] : srcs[pick(5)];
        // An error about a datagram from our own address goes to ourselves over loopback in
        // the kernel; ingressd sends it out of the port (the no-route-back known mismatch).
        if (accept_local && src == "198.18.0.1") src = srcs[0];
        f["src"] = src;
        f["dst"] = dst;
        if (dst == "198.18.0.255" || dst == "255.255.255.255") f["eth_dst"] = "broadcast";
        // No ICMP: its input is the kernel's by design (see the README's deliberate
        // differences), so every ICMP frame would differ in IpInDelivers.
        if (pick(8)) {
            f["udp"].push_back(4000 + pick(2));
            f["udp"].push_back(pick(5) == 0 ? 5009 : ports[pick(3)]);
        } else {
            f["proto"] = 253;
        }
        f["payload"] = pick(64);
        switch (pick(24)) {
            case 0:
                f["bad_ip_csum"] = true;
                break;
            case 1:
                f["ttl"] = pick(2);
                break;
            case 2:
                f["ihl"] = 4;
                break;
            case 3:
                f["tot_len"] = 1000;
                break;
            case 4:
                if (f["udp"]) f["bad_udp_csum"] = true;
                break;
            case 5:
                if (f["udp"]) f["udp_len"] = 4;
                break;
            case 6:
                if (f["udp"]) f["zero_udp_csum"] = true;
                break;
            case 7:
                f["eth_dst"] = "other";
                break;
            case 8:
                f["version"] = 6;
                break;
            case 9:
                f["options"] = "01010100";
                break;  // NOP NOP NOP EOL
            case 10:
                f["pad_to"] = 60;
                break;
            case 11: {
                // A fragmented datagram, its fragments in order or reversed.
                f["id"] = next_id++;
                f["payload"] = 40 + pick(40);
                bool reversed = pick(2);
                YAML::Node a = YAML::Clone(f), b = YAML::Clone(f);
                a["frag"]["offset"] = 0;
                a["frag"]["len"] = 24;
                a["frag"]["more"] = true;
                b["frag"]["offset"] = 24;
                fs.push_back(reversed ? b : a);
                fs.push_back(reversed ? a : b);
                i += 2;
                continue;
            }
            default:
                break;
        }
        fs.push_back(f);
        ++i;
    }
    sc["frames"] = fs;
    return sc;
}

}  // namespace ingress::diff
