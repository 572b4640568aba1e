// Policy routing: the rules that choose the table a route lookup uses (`ip rule`).
//
// Kernel-equivalent: net/core/fib_rules.c fib_rules_lookup() and fib_rule_match(), with the
// IPv4 parts of net/ipv4/fib_rules.c: fib4_rule_match() (from/to, tos/dscp, ipproto,
// sport/dport), fib4_rule_action() (lookup, unreachable, prohibit, blackhole) and
// fib4_rule_suppress() (suppress_prefixlength, suppress_ifgroup). RouteTables
// (route_tables.h) compiles a rule list against its tables and runs the lookup; this header
// is the vocabulary: the rule, the flow it is matched against, and the spellings `ip rule`
// uses. route.md has the walk in prose.
//
// The flow fields an input lookup carries (ip_route_input_slow()) and which ones this
// dataplane can know:
//   iif      the arrival interface (fib_validate_source(): the route's output device, or
//            loopback for local input: the kernel's iif/oif swap);
//   oif      0 on input (fib_validate_source()'s first lookup too);
//   mark     skb->mark is 0 on a datagram fresh off the wire (no tc/netfilter here), so
//            `fwmark` rules are matched against 0;
//   uid      sock_net_uid(net, NULL): 0 (root of the initial user namespace);
//   tun_id   0 (no collect_md tunnel delivers here);
//   dscp     the header's DSCP;
//   proto, sport, dport  only when some rule needs them (fib4_rules_early_flow_dissect():
//            net->ipv4.fib_rules_require_fldissect, counted over rules with ipproto or a
//            port selector and an iif other than lo), else 0; the ports of a fragment are
//            0 (the flow dissector does not parse them).
// What the dataplane cannot evaluate (l3mdev rules: no VRF here) makes the rule
// `unsupported`: a lookup that reaches it returns RouteError::kUnsupported and the datagram
// is handed to the kernel, never routed by a guess.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "wire/ipv4.h"

namespace ingress::ipv4 {

// The kernel's reserved table ids (include/uapi/linux/rtnetlink.h, RT_TABLE_*).
inline constexpr uint32_t kTableUnspec = 0;
inline constexpr uint32_t kTableDefault = 253;
inline constexpr uint32_t kTableMain = 254;
inline constexpr uint32_t kTableLocal = 255;

// The kernel's loopback ifindex (LOOPBACK_IFINDEX): the iif of a reverse lookup for local
// input when the tables know no loopback interface.
inline constexpr uint32_t kLoopbackIfindex = 1;
// A rule's iif/oif named an interface that does not exist: it matches nothing (the kernel
// keeps such a rule "detached", iifindex -1).
inline constexpr uint32_t kIfDetached = UINT32_MAX;

// FR_ACT_* (include/uapi/linux/fib_rules.h), with its numbering.
enum class RuleAction : uint8_t {
    kToTable = 1,      // lookup TABLE
    kGoto = 2,         // goto PRIORITY
    kNop = 3,          // nop
    kBlackhole = 6,    // blackhole: -EINVAL
    kUnreachable = 7,  // unreachable: -ENETUNREACH
    kProhibit = 8,     // prohibit: -EACCES
};

struct PortRange {
    uint16_t start = 0, end = 0;
    // fib_rule_port_range_set(): both ends non-zero.
    bool set() const noexcept { return start != 0 && end != 0; }
    friend bool operator==(const PortRange&, const PortRange&) = default;
};

struct FibRule {
    uint32_t priority = 0;
    RuleAction action = RuleAction::kToTable;
    bool invert = false;  // `not` (FIB_RULE_INVERT)
    uint32_t table = 0;   // lookup TABLE
    uint32_t goto_priority = 0;
    wire::Ipv4Addr src = 0, dst = 0;  // host order, host bits zero
    uint8_t src_len = 0, dst_len = 0;
    uint32_t iif = 0, oif = 0;     // 0: any; kIfDetached: named, absent
    std::string iifname, oifname;  // as configured (display)
    uint8_t dscp = 0;              // 6-bit DSCP value
    uint8_t dscp_mask = 0;         // full DSCP selector (FRA_DSCP): the bits compared
    bool dscp_full = false;        // false: legacy `tos` (dscp is tos >> 2)
    uint32_t fwmark = 0, fwmask = 0;
    uint8_t ip_proto = 0;
    PortRange sport, dport;
    uint16_t sport_mask = 0, dport_mask = 0;  // FRA_SPORT_MASK/FRA_DPORT_MASK (6.15+)
    uint32_t uid_start = 0, uid_end = UINT32_MAX;
    uint64_t tun_id = 0;
    int32_t suppress_prefixlen = -1;  // -1: unset
    int64_t suppress_ifgroup = -1;    // -1: unset
    uint8_t protocol = 0;             // FRA_PROTOCOL, shown only
    // Why the dataplane cannot evaluate this rule ("": it can). A lookup reaching it is
    // handed to the kernel.
    std::string unsupported;

    friend bool operator==(const FibRule&, const FibRule&) = default;
};

// The three rules a namespace starts with (fib_default_rules_init()): 0 lookup local,
// 32766 lookup main, 32767 lookup default.
std::vector<FibRule> default_fib_rules();

// The rules are the three default ones, whatever their protocol (the kernel's say
// `proto kernel`): fib4_has_custom_rules() is false.
bool is_default_rule_set(const std::vector<FibRule>& rules);

// `ip rule add` into `rules` (kept in the kernel's list order): a rule without a priority
// (`has_priority` false) gets fib_default_rule_pref()'s (the second rule's priority minus
// one, or 0); the rule goes after the last one whose priority is not greater
// (fib_nl_newrule()). Returns the rule's priority.
uint32_t fib_rule_insert(std::vector<FibRule>& rules, FibRule r, bool has_priority);

// fib_rule_requires_fldissect(): the rule selects by ipproto or ports (and not iif lo).
bool fib_rule_requires_fldissect(const FibRule& r, uint32_t loopback_ifindex) noexcept;

// The flow a rule is matched against (the flowi4 fields rules read).
struct Flow {
    uint32_t iif = 0, oif = 0;
    wire::Ipv4Addr saddr = 0, daddr = 0;
    uint8_t dscp = 0;  // 6-bit
    uint8_t proto = 0;
    uint16_t sport = 0, dport = 0;
    uint32_t mark = 0;
};

// fib_rule_match() with fib4_rule_match(), `not` applied. The l3mdev and suppress parts
// are not here (RouteTables).
bool fib_rule_match(const FibRule& r, const Flow& fl) noexcept;

// `ip rule` spellings: table names (local, main, default, or the number), actions.
std::string table_name(uint32_t id);
bool parse_table(std::string_view s, uint32_t& id) noexcept;
std::string_view rule_action_name(RuleAction a) noexcept;
bool parse_rule_action(std::string_view s, RuleAction& a) noexcept;
// One rule in `ip rule show`'s shape: "32766:\tfrom all lookup main"; `ifname` names
// ifindexes for iif/oif when the rule holds no name.
std::string format_rule(const FibRule& r);

}  // namespace ingress::ipv4
