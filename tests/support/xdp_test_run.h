// The XDP program loaded but not attached, driven frame by frame with BPF_PROG_TEST_RUN (no
// interface, no traffic; needs CAP_BPF): its maps filled as XdpProgram fills them, its
// verdict and per-action counters read back. For tests of the program's decisions.
#pragma once

#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <vector>

#include "ingress_xdp.h"

namespace ingress::test {

class XdpTestRun {
public:
    // Opens and loads $INGRESS_XDP_OBJECT (or the build tree's); loaded() says whether it did.
    XdpTestRun() {
        const char* p = std::getenv("INGRESS_XDP_OBJECT");
        obj_ = bpf_object__open_file(p ? p : "xdp/ingress.bpf.o", nullptr);
        if (!obj_ || bpf_object__load(obj_) != 0) return;
        prog_fd_ = bpf_program__fd(bpf_object__find_program_by_name(obj_, INGRESS_XDP_PROG_NAME));
        dst_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_DST_MAP);
        proto_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_PROTO_MAP);
        stats_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_STATS_MAP);
        config_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_CONFIG_MAP);
        prefix_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_PREFIX_MAP);
        tap_ring_fd_ = bpf_object__find_map_fd_by_name(obj_, INGRESS_XDP_TAP_RING);
    }
    ~XdpTestRun() {
        if (obj_) bpf_object__close(obj_);
    }
    XdpTestRun(const XdpTestRun&) = delete;
    XdpTestRun& operator=(const XdpTestRun&) = delete;

    bool loaded() const {
        return prog_fd_ >= 0 && dst_fd_ >= 0 && proto_fd_ >= 0 && stats_fd_ >= 0 &&
               prefix_fd_ >= 0 && tap_ring_fd_ >= 0;
    }
    // `a` in host order.
    void add_dst(uint32_t a, uint32_t kind = INGRESS_XDP_DST_LOCAL) {
        uint32_t key = htonl(a);
        EXPECT_EQ(bpf_map_update_elem(dst_fd_, &key, &kind, BPF_ANY), 0);
    }
    // A local prefix (`a` in host order), as XdpProgram::add_dst with prefix_len < 32.
    void add_prefix(uint32_t a, uint8_t len, uint32_t kind = INGRESS_XDP_DST_LOCAL) {
        ingress_xdp_prefix_key key{len, htonl(a)};
        EXPECT_EQ(bpf_map_update_elem(prefix_fd_, &key, &kind, BPF_ANY), 0);
    }
    void set_protocol(uint8_t protocol, bool take) {
        uint32_t k = protocol, v = take;
        EXPECT_EQ(bpf_map_update_elem(proto_fd_, &k, &v, BPF_ANY), 0);
    }
    void set_capture_all(bool on) {
        cfg_.capture_all = on;
        write_config();
    }
    // Copies of the frames it passes into ingress_tap_ring (XdpProgram::set_tap_copy).
    void set_tap_copy(bool on) {
        cfg_.tap_copy = on;
        write_config();
    }
    int tap_ring_fd() const { return tap_ring_fd_; }
    // The program's return code for one frame.
    int run(std::vector<uint8_t> frame) {
        LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = frame.data(),
                    .data_size_in = static_cast<uint32_t>(frame.size()), .repeat = 1);
        EXPECT_EQ(bpf_prog_test_run_opts(prog_fd_, &o), 0);
        return static_cast<int>(o.retval);
    }
    // Whether the program takes the frame (tries to redirect it to the queue's socket). With
    // no socket in the XSK map that ends as XDP_PASS too: the NO_XSK counter tells.
    bool takes(std::vector<uint8_t> frame) {
        const uint64_t before = stat(INGRESS_XDP_STAT_NO_XSK);
        EXPECT_EQ(run(std::move(frame)), XDP_PASS);
        return stat(INGRESS_XDP_STAT_NO_XSK) > before;
    }
    // One of the ingress_stats counters, summed over CPUs.
    uint64_t stat(uint32_t k) {
        std::vector<uint64_t> v(static_cast<std::size_t>(libbpf_num_possible_cpus()));
        EXPECT_EQ(bpf_map_lookup_elem(stats_fd_, &k, v.data()), 0);
        uint64_t s = 0;
        for (uint64_t x : v) s += x;
        return s;
    }

private:
    void write_config() {
        uint32_t zero = 0;
        EXPECT_EQ(bpf_map_update_elem(config_fd_, &zero, &cfg_, BPF_ANY), 0);
    }
    ingress_xdp_config cfg_{};
    bpf_object* obj_ = nullptr;
    int prog_fd_ = -1, dst_fd_ = -1, proto_fd_ = -1, stats_fd_ = -1, config_fd_ = -1,
        prefix_fd_ = -1, tap_ring_fd_ = -1;
};

}  // namespace ingress::test
