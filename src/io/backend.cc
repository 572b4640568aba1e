#include "io/backend.h"

namespace ingress::io {

std::vector<core::NamedCounter> named(const BackendStats& s) {
    return {
        {"rx", "frames handed out by rx_burst", s.rx},
        {"tx", "frames accepted by tx_burst", s.tx},
        {"passed", "frames the kernel got from the dataplane (DPDK: the exception TAP took them)",
         s.passed},
        {"freed", "buffers returned by free_bulk", s.freed},
        {"rx_oversize", "frames the backend could not receive (larger than a buffer)",
         s.rx_oversize},
        {"rx_missed",
         "frames the kernel or the device dropped before a worker saw them (AF_XDP: "
         "rx_dropped + rx_ring_full; DPDK: imissed + ierrors)",
         s.rx_missed},
        {"alloc_fail", "no free buffer for a frame (DPDK: includes rx_nombuf)", s.alloc_fail},
        {"steered", "frames not for the dataplane, given to the kernel at rx (DPDK)", s.steered},
        {"pass_dropped",
         "frames the pipeline passed that the kernel did not get (AF_XDP: every one; DPDK: the "
         "TAP refused them)",
         s.pass_dropped},
        {"from_kernel", "the kernel's frames sent out of the port (DPDK)", s.from_kernel},
        {"from_kernel_dropped", "the kernel's frames the port refused (DPDK)",
         s.from_kernel_dropped},
        {"tap_lost",
         "frames steered to the kernel whose copy for the packet taps found its queue full "
         "(DPDK; ingress-specific, AF_XDP counts it as xdp_program tap_lost)",
         s.tap_lost},
    };
}

}  // namespace ingress::io
