// The worker's pipeline: every stage, wired explicitly, in the kernel's order. Reading
// process() shows the whole packet path.
//
//   rx burst
//    -> l2::eth_type_trans      pkt_type against the port MAC            (net/ethernet/eth.c)
//    -> l2::vlan_untag          tag to metadata, sub-interface or OTHERHOST (net/core/dev.c)
//       [taps: packet endpoints get their copy here, OTHERHOST included — demux issue]
//    -> l2::ptype_dispatch      IPv4 on, the rest passed to the kernel
//    -> ipv4::rcv_core          ip_rcv_core header validation, trim     (net/ipv4/ip_input.c)
//    -> ipv4::route_input       ip_rcv_finish_core: input route, martians, rp_filter,
//                               options, mcast/bcast counters         (net/ipv4/route.c)
//       [defrag, local delivery — later issues]
//    -> end of the implemented path: LOCAL / BROADCAST / MULTICAST datagrams are passed to
//       the kernel until local delivery exists
#pragma once

#include "core/counters.h"
#include "core/packet.h"
#include "io/backend.h"
#include "io/tx_queue.h"
#include "ipv4/icmp_send.h"
#include "ipv4/route.h"
#include "ipv4/route_tables.h"
#include "l2/port.h"
#include "worker/fate_sink.h"

namespace ingress::worker {

struct PipelineTables {
    const l2::Port* port = nullptr;  // the port this worker's queue belongs to
    ipv4::IcmpConfig icmp;           // net.ipv4.icmp_* knobs
    // The route tables (read once per burst: the burst is the RCU read-side section, and
    // the worker loop announces a quiescent state between bursts). Null: no route stage,
    // the pipeline ends after rcv_core (tests of the L2 / rcv_core stages only).
    const ipv4::RoutePublisher* routes = nullptr;
};

class Pipeline {
public:
    Pipeline(io::Backend& backend, core::CounterBlock& counters, PipelineTables tables) noexcept
        : backend_(backend), sink_(backend, counters), c_(counters), t_(tables),
          icmp_(backend, txq_, t_.icmp) {}

    // Runs one received burst to completion: every packet ends with a fate, frames the
    // pipeline built (ICMP errors) leave in one tx_burst, and the counter block is
    // consistent (rx == delivered + held + passed + dropped) when this returns. `now_ns`
    // is the burst's time (timeouts, rate limits); the caller's clock.
    void process(core::PacketBatch& batch, uint64_t now_ns = 0) noexcept;

private:
    io::Backend& backend_;
    FateSink sink_;
    core::CounterBlock& c_;
    PipelineTables t_;
    io::TxQueue txq_;
    ipv4::IcmpSender icmp_;
    ipv4::RouteHint hint_;
};

}  // namespace ingress::worker
