#include "daemon/steering.h"

#include <algorithm>
#include <stdexcept>

namespace ingress::daemon {

std::vector<ipv4::LocalDst> port_dsts(const ipv4::RouteTables& t, const l2::Port& port) {
    std::vector<ipv4::LocalDst> v = t.local_dsts(port.ifindex);
    for (const l2::VlanIf& vl : port.vlans) {
        std::vector<ipv4::LocalDst> more = t.local_dsts(vl.ifindex);
        v.insert(v.end(), more.begin(), more.end());
    }
    std::stable_sort(v.begin(), v.end(),
                     [](const auto& a, const auto& b) { return a.addr < b.addr; });
    v.erase(std::unique(v.begin(), v.end(),
                        [](const auto& a, const auto& b) { return a.addr == b.addr; }),
            v.end());
    return v;
}

SteeringSync::SteeringSync(io::Steering& s, std::string name) : s_(&s), name_(std::move(name)) {}

void SteeringSync::sync_dsts(const std::vector<ipv4::LocalDst>& want) {
    std::set<wire::Ipv4Addr> next;
    for (const ipv4::LocalDst& d : want) next.insert(d.addr);
    for (auto it = dsts_.begin(); it != dsts_.end();) {
        if (next.count(*it)) {
            ++it;
            continue;
        }
        s_->remove_dst(*it);
        it = dsts_.erase(it);
    }
    for (const ipv4::LocalDst& d : want) {
        if (dsts_.count(d.addr)) continue;
        if (!s_->add_dst(d.addr, d.type))
            throw std::runtime_error(name_ + ": too many destinations to steer");
        dsts_.insert(d.addr);
    }
}

void SteeringSync::sync_protocols(const std::set<uint8_t>& want) {
    for (uint8_t p : protocols_)
        if (!want.count(p)) s_->set_protocol(p, false);
    for (uint8_t p : want)
        if (!protocols_.count(p)) s_->set_protocol(p, true);
    protocols_ = want;
}

}  // namespace ingress::daemon
