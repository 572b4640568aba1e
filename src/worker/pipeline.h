// The worker's pipeline: every stage, wired explicitly, in the kernel's order. Reading
// process() shows the whole packet path.
//
//   rx burst
//    -> l2::eth_type_trans      pkt_type against the port MAC            (net/ethernet/eth.c)
//    -> l2::vlan_untag          tag to metadata, sub-interface or OTHERHOST (net/core/dev.c)
//    -> demux::tap_deliver      packet taps (ptype_all / ptype_base packet sockets) get their
//                               copy, OTHERHOST included; never changes the fate
//    -> l2::ptype_dispatch      IPv4 on, the rest passed to the kernel
//    -> ipv4::rcv_core          ip_rcv_core header validation, trim     (net/ipv4/ip_input.c)
//       [route (ip_route_input_noref) and defrag (ip_defrag) — other issues, they go here;
//        until they are merged a TEMPORARY classifier in pipeline.cc stands in for route]
//    -> demux::local_deliver    raw copies, then UDP (udp_rcv) / kernel protocols / unknown
//                               (ip_local_deliver_finish)
// Without an endpoint table (tables.endpoints == nullptr) the path ends after rcv_core and
// valid IPv4 is passed to the kernel, as before local delivery existed.
#pragma once

#include "core/counters.h"
#include "core/packet.h"
#include "demux/endpoint_table.h"
#include "demux/local_deliver.h"
#include "demux/tap.h"
#include "io/backend.h"
#include "io/tx_queue.h"
#include "ipv4/icmp_send.h"
#include "l2/port.h"
#include "worker/fate_sink.h"

namespace ingress::worker {

struct PipelineTables {
    const l2::Port* port = nullptr;  // the port this worker's queue belongs to
    ipv4::IcmpConfig icmp;           // net.ipv4.icmp_* knobs
    // The published endpoint snapshot (taps, raw, UDP); nullptr: no local delivery.
    const demux::EndpointTable* endpoints = nullptr;
    demux::LocalDeliverConfig local;  // protocols left to the kernel's handlers
    // TEMPORARY (until the route stage is merged): the port's subnet broadcast address, so
    // the stand-in classifier can tell directed broadcast from local unicast.
    wire::Ipv4Addr temp_subnet_broadcast = 0;
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
    demux::TapScratch tap_scratch_;
};

}  // namespace ingress::worker
