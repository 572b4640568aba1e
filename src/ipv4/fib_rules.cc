#include "ipv4/fib_rules.h"

#include <charconv>
#include <cstdio>

namespace ingress::ipv4 {

namespace {

uint32_t prefix_mask(uint8_t len) noexcept {
    return len == 0 ? 0 : ~uint32_t{0} << (32 - len);
}

// fib_rule_port_match(): no selector matches every port; a mask compares the masked bits
// with the range's start; else the port must lie in the range.
bool port_match(const PortRange& r, uint16_t mask, uint16_t port) noexcept {
    if (!r.set()) return true;
    if (mask) return ((port ^ r.start) & mask) == 0;
    return port >= r.start && port <= r.end;
}

// fib4_rule_match().
bool fib4_rule_match(const FibRule& r, const Flow& fl) noexcept {
    if (((fl.saddr ^ r.src) & prefix_mask(r.src_len)) ||
        ((fl.daddr ^ r.dst) & prefix_mask(r.dst_len)))
        return false;
    // "When DSCP selector is used we need to match on the entire DSCP field in the flow
    // information structure. When TOS selector is used we need to mask the upper three DSCP
    // bits prior to matching to maintain legacy behavior."
    if (r.dscp_full) {
        if ((r.dscp ^ fl.dscp) & r.dscp_mask) return false;
    } else if (r.dscp && r.dscp != (fl.dscp & 0x07)) {  // INET_DSCP_LEGACY_TOS_MASK
        return false;
    }
    if (r.ip_proto && r.ip_proto != fl.proto) return false;
    if (!port_match(r.sport, r.sport_mask, fl.sport)) return false;
    if (!port_match(r.dport, r.dport_mask, fl.dport)) return false;
    return true;
}

struct NamedTable {
    uint32_t id;
    std::string_view name;
};
constexpr NamedTable kTables[] = {
    {kTableDefault, "default"}, {kTableMain, "main"}, {kTableLocal, "local"}};

struct NamedAction {
    RuleAction a;
    std::string_view name;
};
constexpr NamedAction kActions[] = {
    {RuleAction::kToTable, "lookup"},
    {RuleAction::kGoto, "goto"},
    {RuleAction::kNop, "nop"},
    {RuleAction::kBlackhole, "blackhole"},
    {RuleAction::kUnreachable, "unreachable"},
    {RuleAction::kProhibit, "prohibit"},
};

std::string prefix_str(wire::Ipv4Addr a, uint8_t len) {
    std::string s = wire::ipv4_str(a);
    if (len != 32) s += "/" + std::to_string(len);
    return s;
}

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
}

std::string ports(const PortRange& r, uint16_t mask) {
    if (mask) return std::to_string(r.start) + "/" + hex(mask);
    if (r.start == r.end) return std::to_string(r.start);
    return std::to_string(r.start) + "-" + std::to_string(r.end);
}

std::string ifname(const std::string& name, uint32_t ifindex) {
    std::string s = name.empty() ? "if" + std::to_string(ifindex) : name;
    if (ifindex == kIfDetached) s += " [detached]";
    return s;
}

}  // namespace

std::vector<FibRule> default_fib_rules() {
    return {{.priority = 0, .table = kTableLocal},
            {.priority = 32766, .table = kTableMain},
            {.priority = 32767, .table = kTableDefault}};
}

bool is_default_rule_set(const std::vector<FibRule>& rules) {
    std::vector<FibRule> rs = rules;
    for (FibRule& r : rs) r.protocol = 0;
    return rs == default_fib_rules();
}

uint32_t fib_rule_insert(std::vector<FibRule>& rules, FibRule r, bool has_priority) {
    if (!has_priority) {
        // fib_default_rule_pref(): the second rule's priority minus one, when it has one.
        r.priority = rules.size() >= 2 && rules[1].priority ? rules[1].priority - 1 : 0;
    }
    auto pos = rules.begin();
    while (pos != rules.end() && pos->priority <= r.priority) ++pos;
    const uint32_t prio = r.priority;
    rules.insert(pos, std::move(r));
    return prio;
}

bool fib_rule_requires_fldissect(const FibRule& r, uint32_t loopback_ifindex) noexcept {
    return r.iif != loopback_ifindex && (r.ip_proto || r.sport.set() || r.dport.set());
}

bool fib_rule_match(const FibRule& r, const Flow& fl) noexcept {
    bool m = true;
    if (r.iif && r.iif != fl.iif)
        m = false;
    else if (r.oif && r.oif != fl.oif)
        m = false;
    else if ((r.fwmark ^ fl.mark) & r.fwmask)
        m = false;
    else if (r.tun_id)  // the flow's tun_id is 0
        m = false;
    else if (r.uid_start > 0)  // the flow's uid is 0
        m = false;
    else
        m = fib4_rule_match(r, fl);
    return r.invert ? !m : m;
}

std::string table_name(uint32_t id) {
    for (const NamedTable& t : kTables)
        if (t.id == id) return std::string(t.name);
    return std::to_string(id);
}

bool parse_table(std::string_view s, uint32_t& id) noexcept {
    for (const NamedTable& t : kTables)
        if (t.name == s) {
            id = t.id;
            return true;
        }
    uint32_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || s.empty() || v == 0) return false;
    id = v;
    return true;
}

std::string_view rule_action_name(RuleAction a) noexcept {
    for (const NamedAction& n : kActions)
        if (n.a == a) return n.name;
    return "unknown";
}

bool parse_rule_action(std::string_view s, RuleAction& a) noexcept {
    for (const NamedAction& n : kActions)
        if (n.name == s) {
            a = n.a;
            return true;
        }
    return false;
}

std::string format_rule(const FibRule& r) {
    // iproute2's print_rule() order.
    std::string s = std::to_string(r.priority) + ":\t";
    if (r.invert) s += "not ";
    s += "from " + (r.src_len ? prefix_str(r.src, r.src_len) : std::string("all"));
    if (r.dst_len) s += " to " + prefix_str(r.dst, r.dst_len);
    if (r.dscp && !r.dscp_full) s += " tos " + hex(uint32_t{r.dscp} << 2);
    if (r.dscp_full) {
        s += " dscp " + std::to_string(r.dscp);
        if (r.dscp_mask != 0x3f) s += "/" + hex(r.dscp_mask);
    }
    if (r.fwmark || r.fwmask) {
        s += " fwmark " + hex(r.fwmark);
        if (r.fwmask != UINT32_MAX) s += "/" + hex(r.fwmask);
    }
    if (r.iif) s += " iif " + ifname(r.iifname, r.iif);
    if (r.oif) s += " oif " + ifname(r.oifname, r.oif);
    if (r.uid_start != 0 || r.uid_end != UINT32_MAX)
        s += " uidrange " + std::to_string(r.uid_start) + "-" + std::to_string(r.uid_end);
    if (r.ip_proto) s += " ipproto " + std::to_string(r.ip_proto);
    if (r.sport.set()) s += " sport " + ports(r.sport, r.sport_mask);
    if (r.dport.set()) s += " dport " + ports(r.dport, r.dport_mask);
    if (r.tun_id) s += " tun_id " + std::to_string(r.tun_id);
    switch (r.action) {
        case RuleAction::kToTable:
            s += " lookup " + table_name(r.table);
            if (r.suppress_prefixlen >= 0)
                s += " suppress_prefixlength " + std::to_string(r.suppress_prefixlen);
            if (r.suppress_ifgroup >= 0)
                s += " suppress_ifgroup " + std::to_string(r.suppress_ifgroup);
            break;
        case RuleAction::kGoto:
            s += " goto " + std::to_string(r.goto_priority);
            break;
        default:
            s += " ";
            s += rule_action_name(r.action);
    }
    if (!r.unsupported.empty()) s += " [not in the dataplane: " + r.unsupported + "]";
    return s;
}

}  // namespace ingress::ipv4
