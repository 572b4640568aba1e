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
    ipv4::sort_local_dsts(v);
    return v;
}

SteeringSync::SteeringSync(io::Steering& s, std::string name) : s_(&s), name_(std::move(name)) {}

void SteeringSync::sync_dsts(const std::vector<ipv4::LocalDst>& want) {
    std::set<Key> next;
    for (const ipv4::LocalDst& d : want) next.insert({d.addr, d.prefix_len});
    for (auto it = dsts_.begin(); it != dsts_.end();) {
        if (next.count(*it)) {
            ++it;
            continue;
        }
        s_->remove_dst(it->first, it->second);
        it = dsts_.erase(it);
    }
    for (const ipv4::LocalDst& d : want) {
        if (dsts_.count({d.addr, d.prefix_len})) continue;
        if (!s_->add_dst(d.addr, d.prefix_len, d.type))
            throw std::runtime_error(name_ + ": too many destinations to steer");
        dsts_.insert({d.addr, d.prefix_len});
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
