#include "daemon/netlink_mirror.h"

#include <arpa/inet.h>
#include <endian.h>
#include <libmnl/libmnl.h>
#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <ctime>
#include <stdexcept>
#include <string>
#include <vector>

namespace ingress::daemon {
namespace {

// The errno of the failed call travels with the message.
struct NetlinkError : std::runtime_error {
    NetlinkError(const std::string& what, int e)
        : std::runtime_error("netlink: " + what + ": " + std::strerror(e)), err(e) {}
    int err;
};

[[noreturn]] void fail(const std::string& what) {
    throw NetlinkError(what, errno);
}

wire::Ipv4Addr addr_of(const nlattr* a) {
    uint32_t be;
    std::memcpy(&be, mnl_attr_get_payload(a), 4);
    return ntohl(be);
}

// Each attribute after the `off`-byte family header (mnl_attr_for_each, typed for C++).
template <class F>
void for_each_attr(const nlmsghdr* nlh, std::size_t off, F f) {
    const char* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(nlh));
    for (auto* a = static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(nlh, off));
         mnl_attr_ok(a, static_cast<int>(tail - reinterpret_cast<const char*>(a)));
         a = mnl_attr_next(a))
        f(a);
}

int on_link(const nlmsghdr* nlh, void* data) {
    auto* h = static_cast<KernelHost*>(data);
    const auto* ifi = static_cast<const ifinfomsg*>(mnl_nlmsg_get_payload(nlh));
    KernelLink l{.ifindex = static_cast<uint32_t>(ifi->ifi_index),
                 .loopback = (ifi->ifi_flags & IFF_LOOPBACK) != 0,
                 .up = (ifi->ifi_flags & IFF_UP) != 0};
    for_each_attr(nlh, sizeof(*ifi), [&](const nlattr* a) {
        if (mnl_attr_get_type(a) == IFLA_IFNAME) l.name = mnl_attr_get_str(a);
        if (mnl_attr_get_type(a) == IFLA_GROUP) l.group = mnl_attr_get_u32(a);
    });
    h->links.push_back(std::move(l));
    return MNL_CB_OK;
}

int on_addr(const nlmsghdr* nlh, void* data) {
    auto* h = static_cast<KernelHost*>(data);
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
    if (ifa->ifa_family != AF_INET) return MNL_CB_OK;
    KernelAddr k{.ifindex = ifa->ifa_index};
    k.addr.prefix_len = ifa->ifa_prefixlen;
    uint32_t flags = ifa->ifa_flags;
    bool have = false;
    for_each_attr(nlh, sizeof(*ifa), [&](const nlattr* a) {
        switch (mnl_attr_get_type(a)) {
            case IFA_LOCAL:  // the address itself (IFA_ADDRESS is the peer on a p2p link)
                k.addr.addr = addr_of(a);
                have = true;
                break;
            case IFA_ADDRESS:
                if (!have) k.addr.addr = addr_of(a);
                break;
            case IFA_BROADCAST:
                k.addr.broadcast = addr_of(a);
                break;
            case IFA_FLAGS:
                flags = mnl_attr_get_u32(a);
                break;
        }
    });
    k.addr.secondary = (flags & IFA_F_SECONDARY) != 0;
    // `brd +` (the subnet broadcast) is what RouteTables derives anyway; an explicit other
    // brd is kept as IFA_BROADCAST says.
    h->addrs.push_back(k);
    return MNL_CB_OK;
}

int on_route(const nlmsghdr* nlh, void* data) {
    auto* h = static_cast<KernelHost*>(data);
    const auto* rtm = static_cast<const rtmsg*>(mnl_nlmsg_get_payload(nlh));
    if (rtm->rtm_family != AF_INET) return MNL_CB_OK;
    KernelRoute r{.table = rtm->rtm_table,
                  .protocol = rtm->rtm_protocol,
                  .type = rtm->rtm_type,
                  .prefix_len = rtm->rtm_dst_len,
                  .tos = rtm->rtm_tos};
    for_each_attr(nlh, sizeof(*rtm), [&](const nlattr* a) {
        switch (mnl_attr_get_type(a)) {
            case RTA_TABLE:
                r.table = mnl_attr_get_u32(a);
                break;
            case RTA_DST:
                r.prefix = addr_of(a);
                break;
            case RTA_OIF:
                r.oif = mnl_attr_get_u32(a);
                break;
            case RTA_GATEWAY:
                r.gateway = true;
                break;
            case RTA_MULTIPATH:
                r.multipath = true;
                break;
            case RTA_NH_ID:
                r.nexthop_id = true;
                break;
        }
    });
    h->routes.push_back(r);
    return MNL_CB_OK;
}

// FRA_* attributes newer than this system's linux/fib_rules.h (6.1): the kernel's numbers.
constexpr uint16_t kFraDscp = 25, kFraSportMask = 28, kFraDportMask = 29, kFraDscpMask = 30;

int on_rule(const nlmsghdr* nlh, void* data) {
    auto* h = static_cast<KernelHost*>(data);
    const auto* frh = static_cast<const fib_rule_hdr*>(mnl_nlmsg_get_payload(nlh));
    if (frh->family != AF_INET) return MNL_CB_OK;
    ipv4::FibRule f{.action = static_cast<ipv4::RuleAction>(frh->action),
                    .invert = (frh->flags & FIB_RULE_INVERT) != 0,
                    .table = frh->table,
                    .src_len = frh->src_len,
                    .dst_len = frh->dst_len,
                    .dscp = static_cast<uint8_t>(frh->tos >> 2)};
    for_each_attr(nlh, sizeof(*frh), [&](const nlattr* a) {
        auto port_range = [&](ipv4::PortRange& pr) {
            const auto* p = static_cast<const fib_rule_port_range*>(mnl_attr_get_payload(a));
            pr = {p->start, p->end};
        };
        switch (mnl_attr_get_type(a)) {
            case FRA_PRIORITY:
                f.priority = mnl_attr_get_u32(a);
                break;
            case FRA_TABLE:
                f.table = mnl_attr_get_u32(a);
                break;
            case FRA_SRC:
                f.src = addr_of(a);
                break;
            case FRA_DST:
                f.dst = addr_of(a);
                break;
            case FRA_IIFNAME:
                f.iifname = mnl_attr_get_str(a);
                break;
            case FRA_OIFNAME:
                f.oifname = mnl_attr_get_str(a);
                break;
            case FRA_GOTO:
                f.goto_priority = mnl_attr_get_u32(a);
                break;
            case FRA_FWMARK:
                f.fwmark = mnl_attr_get_u32(a);
                break;
            case FRA_FWMASK:
                f.fwmask = mnl_attr_get_u32(a);
                break;
            case FRA_TUN_ID:
                f.tun_id = be64toh(mnl_attr_get_u64(a));
                break;
            case FRA_SUPPRESS_PREFIXLEN:
                f.suppress_prefixlen = static_cast<int32_t>(mnl_attr_get_u32(a));
                break;
            case FRA_SUPPRESS_IFGROUP:
                f.suppress_ifgroup = mnl_attr_get_u32(a) == UINT32_MAX
                                         ? -1
                                         : static_cast<int64_t>(mnl_attr_get_u32(a));
                break;
            case FRA_L3MDEV:
                if (mnl_attr_get_u8(a)) f.unsupported = "l3mdev";
                break;
            case FRA_UID_RANGE: {
                const auto* u = static_cast<const fib_rule_uid_range*>(mnl_attr_get_payload(a));
                f.uid_start = u->start;
                f.uid_end = u->end;
                break;
            }
            case FRA_PROTOCOL:
                f.protocol = mnl_attr_get_u8(a);
                break;
            case FRA_IP_PROTO:
                f.ip_proto = mnl_attr_get_u8(a);
                break;
            case FRA_SPORT_RANGE:
                port_range(f.sport);
                break;
            case FRA_DPORT_RANGE:
                port_range(f.dport);
                break;
            case kFraDscp:
                f.dscp = mnl_attr_get_u8(a);
                f.dscp_full = true;
                if (!f.dscp_mask) f.dscp_mask = 0x3f;
                break;
            case kFraDscpMask:
                f.dscp_mask = mnl_attr_get_u8(a);
                break;
            case kFraSportMask:
                f.sport_mask = mnl_attr_get_u16(a);
                break;
            case kFraDportMask:
                f.dport_mask = mnl_attr_get_u16(a);
                break;
        }
    });
    switch (f.action) {
        case ipv4::RuleAction::kToTable:
        case ipv4::RuleAction::kGoto:
        case ipv4::RuleAction::kNop:
        case ipv4::RuleAction::kBlackhole:
        case ipv4::RuleAction::kUnreachable:
        case ipv4::RuleAction::kProhibit:
            break;
        default:
            f.unsupported = "action " + std::to_string(frh->action);
    }
    // A mark without a mask compares every bit (fib_nl2rule()).
    if (f.fwmark && !f.fwmask) f.fwmask = UINT32_MAX;
    // The kernel marks a rule whose interface is gone; the name stays.
    if (frh->flags & FIB_RULE_IIF_DETACHED) f.iif = ipv4::kIfDetached;
    if (frh->flags & FIB_RULE_OIF_DETACHED) f.oif = ipv4::kIfDetached;
    h->rules.push_back(std::move(f));
    return MNL_CB_OK;
}

// One dump request of `type` for `family`, answered into `h` through `cb`.
void dump(mnl_socket* nl, uint16_t type, uint8_t family, mnl_cb_t cb, KernelHost& h,
          const char* what) {
    std::vector<char> buf(MNL_SOCKET_BUFFER_SIZE);
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    const auto seq = static_cast<uint32_t>(time(nullptr));
    nlh->nlmsg_seq = seq;
    // rtgenmsg is a prefix of ifinfomsg/ifaddrmsg/rtmsg: the family is all a dump needs.
    auto* g = static_cast<rtgenmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifinfomsg)));
    g->rtgen_family = family;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) fail(std::string("dump ") + what);
    const unsigned portid = mnl_socket_get_portid(nl);
    for (;;) {
        const ssize_t n = mnl_socket_recvfrom(nl, buf.data(), buf.size());
        if (n < 0) fail(std::string("dump ") + what);
        const int r = mnl_cb_run(buf.data(), static_cast<size_t>(n), seq, portid, cb, &h);
        if (r < 0) fail(std::string("dump ") + what);
        if (r == MNL_CB_STOP) return;
    }
}

}  // namespace

KernelHost dump_kernel_host() {
    // A dump that the kernel's state changed under is marked NLM_F_DUMP_INTR, which libmnl
    // reports as EINTR: it is not a consistent picture, so the whole dump starts again (the
    // changes that interrupted it also sit in the subscription, read next).
    for (int attempt = 0;; ++attempt) {
        mnl_socket* nl = mnl_socket_open(NETLINK_ROUTE);
        if (!nl) fail("socket");
        KernelHost h;
        try {
            if (mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) fail("bind");
            dump(nl, RTM_GETLINK, AF_UNSPEC, on_link, h, "links");
            dump(nl, RTM_GETADDR, AF_INET, on_addr, h, "addresses");
            dump(nl, RTM_GETROUTE, AF_INET, on_route, h, "routes");
            dump(nl, RTM_GETRULE, AF_INET, on_rule, h, "rules");
        } catch (const NetlinkError& e) {
            mnl_socket_close(nl);
            if (e.err == EINTR && attempt < 100) continue;
            throw;
        }
        mnl_socket_close(nl);
        return h;
    }
}

NetlinkWatch::NetlinkWatch() {
    nl_ = mnl_socket_open2(NETLINK_ROUTE, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (!nl_) fail("socket");
    if (mnl_socket_bind(nl_,
                        RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV4_RULE,
                        MNL_SOCKET_AUTOPID) < 0) {
        mnl_socket_close(nl_);
        fail("bind to the link, address, route and rule groups");
    }
    // RTM_NEWNETCONF: rp_filter and forwarding changes (daemon/sysctl_mirror.h).
    int netconf = RTNLGRP_IPV4_NETCONF;
    if (mnl_socket_setsockopt(nl_, NETLINK_ADD_MEMBERSHIP, &netconf, sizeof netconf) < 0) {
        mnl_socket_close(nl_);
        fail("join the IPv4 netconf group");
    }
}

NetlinkWatch::~NetlinkWatch() {
    mnl_socket_close(nl_);
}

int NetlinkWatch::fd() const noexcept {
    return mnl_socket_get_fd(nl_);
}

bool NetlinkWatch::drain() {
    char buf[MNL_SOCKET_BUFFER_SIZE];
    bool any = false;
    routes_.clear();
    other_ = false;
    for (;;) {
        const ssize_t n = mnl_socket_recvfrom(nl_, buf, sizeof buf);
        if (n < 0) {
            if (errno == ENOBUFS) {  // notifications were lost: only a full dump is right
                ++overflows_;
                other_ = true;
                any = true;
                continue;
            }
            return any;  // EAGAIN: nothing more
        }
        // Route notifications are kept (routes_only()); anything else asks for a dump.
        int len = static_cast<int>(n);
        for (const nlmsghdr* h = reinterpret_cast<const nlmsghdr*>(buf); mnl_nlmsg_ok(h, len);
             h = mnl_nlmsg_next(h, &len)) {
            ++events_;
            if (other_) continue;
            if ((h->nlmsg_type == RTM_NEWROUTE || h->nlmsg_type == RTM_DELROUTE) &&
                routes_.size() < kMaxRouteEvents) {
                KernelHost one;
                on_route(h, &one);
                if (one.routes.empty()) continue;  // not IPv4
                routes_.push_back({.add = h->nlmsg_type == RTM_NEWROUTE,
                                   .replace = (h->nlmsg_flags & NLM_F_REPLACE) != 0,
                                   .route = one.routes.front()});
            } else {
                other_ = true;
            }
        }
        any = true;
    }
}

bool NetlinkWatch::routes_only(std::vector<RouteEvent>& out) const {
    if (other_ || routes_.empty()) return false;
    out = routes_;
    return true;
}

}  // namespace ingress::daemon
