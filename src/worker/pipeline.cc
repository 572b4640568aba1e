#include "worker/pipeline.h"

#include "ipv4/rcv_core.h"
#include "l2/eth_type_trans.h"
#include "l2/ptype.h"
#include "l2/vlan.h"

namespace ingress::worker {

void Pipeline::process(core::PacketBatch& batch, uint64_t now_ns) noexcept {
    c_.begin_burst();
    c_.rx(batch.count);
    const uint16_t queue = batch.count ? batch.pkts[0].queue : 0;
    sink_.set_queue(queue);
    const l2::Port& port = *t_.port;

    run_stage(batch, sink_, [&](core::Packet& p) { return l2::eth_type_trans(p, port); });
    run_stage(batch, sink_, [&](core::Packet& p) { return l2::vlan_untag(p, port, c_); });
    run_stage(batch, sink_, [&](core::Packet& p) { return l2::ptype_dispatch(p, c_); });
    run_stage(batch, sink_, [&](core::Packet& p) { return ipv4::rcv_core(p, c_); });
    if (const ipv4::RouteTables* rt = t_.routes ? t_.routes->read() : nullptr) {
        run_stage(batch, sink_, [&](core::Packet& p) {
            return ipv4::route_input(p, *rt, c_, &icmp_, now_ns, hint_);
        });
    }

    // End of the implemented path: what remains is for this host (local delivery next).
    for (core::Packet& p : batch) sink_.settle(p, core::Verdict::pass());
    batch.count = 0;

    sink_.flush();
    // ICMP errors built during the burst; a refused frame was counted as sent, so it moves
    // to IcmpOutErrors.
    if (uint16_t refused = txq_.flush(backend_, queue)) c_.mib(core::Mib::kIcmpOutErrors, refused);
    c_.end_burst();
}

}  // namespace ingress::worker
