#include "worker/pipeline.h"

#include "ipv4/rcv_core.h"
#include "l2/eth_type_trans.h"
#include "l2/ptype.h"
#include "l2/vlan.h"

namespace ingress::worker {

void Pipeline::process(core::PacketBatch& batch) noexcept {
    c_.begin_burst();
    c_.rx(batch.count);
    if (batch.count) sink_.set_queue(batch.pkts[0].queue);
    const l2::Port& port = *t_.port;

    run_stage(batch, sink_, [&](core::Packet& p) { return l2::eth_type_trans(p, port); });
    run_stage(batch, sink_, [&](core::Packet& p) { return l2::vlan_untag(p, port, c_); });
    run_stage(batch, sink_, [&](core::Packet& p) { return l2::ptype_dispatch(p, c_); });
    run_stage(batch, sink_, [&](core::Packet& p) { return ipv4::rcv_core(p, c_); });

    // End of the implemented path: what remains is valid IPv4 the kernel would route next.
    for (core::Packet& p : batch) sink_.settle(p, core::Verdict::pass());
    batch.count = 0;

    sink_.flush();
    c_.end_burst();
}

}  // namespace ingress::worker
