// The XDP object the build produced is a valid BPF ELF that libbpf and libxdp both accept,
// with the program and map names userspace expects (ingress_xdp.h). Opening needs no kernel.
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>
#include <xdp/libxdp.h>

#include <cstdlib>
#include <filesystem>
#include <string>

#include "ingress_xdp.h"

namespace {

std::string object_path() {
    const char* p = std::getenv("INGRESS_XDP_OBJECT");
    return p ? p : "xdp/ingress.bpf.o";
}

TEST(XdpObject, LibbpfSeesProgramAndStatsMap) {
    bpf_object* obj = bpf_object__open_file(object_path().c_str(), nullptr);
    ASSERT_NE(obj, nullptr) << object_path();
    bpf_program* prog = bpf_object__find_program_by_name(obj, INGRESS_XDP_PROG_NAME);
    ASSERT_NE(prog, nullptr);
    EXPECT_EQ(bpf_program__type(prog), BPF_PROG_TYPE_XDP);
    bpf_map* map = bpf_object__find_map_by_name(obj, INGRESS_XDP_STATS_MAP);
    ASSERT_NE(map, nullptr);
    EXPECT_EQ(bpf_map__type(map), BPF_MAP_TYPE_PERCPU_ARRAY);
    EXPECT_EQ(bpf_map__max_entries(map), static_cast<uint32_t>(INGRESS_XDP_STAT_MAX));
    bpf_object__close(obj);
}

TEST(XdpObject, LibxdpOpensIt) {
    xdp_program* p = xdp_program__open_file(object_path().c_str(), "xdp", nullptr);
    ASSERT_EQ(libxdp_get_error(p), 0);
    EXPECT_STREQ(xdp_program__name(p), INGRESS_XDP_PROG_NAME);
    xdp_program__close(p);
}

// The device-bound variant beside it (ingress_hwts.bpf.o, the same source with
// INGRESS_XDP_HW_TSTAMP): the same program and maps, and it alone calls the XDP RX metadata
// kfunc for the NIC's stamp (an extern function in its BTF, resolved by libbpf at load).
TEST(XdpObject, DeviceBoundVariantAloneCallsTheRxTimestampKfunc) {
    const std::string hwts =
        (std::filesystem::path(object_path()).parent_path() / "ingress_hwts.bpf.o").string();
    for (const std::string& path : {object_path(), hwts}) {
        bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
        ASSERT_NE(obj, nullptr) << path;
        bpf_program* prog = bpf_object__find_program_by_name(obj, INGRESS_XDP_PROG_NAME);
        ASSERT_NE(prog, nullptr) << path;
        EXPECT_EQ(bpf_program__type(prog), BPF_PROG_TYPE_XDP);
        for (const char* map : {INGRESS_XDP_STATS_MAP, INGRESS_XDP_XSKS_MAP, INGRESS_XDP_DST_MAP,
                                INGRESS_XDP_CONFIG_MAP, INGRESS_XDP_PROTO_MAP,
                                INGRESS_XDP_PREFIX_MAP, INGRESS_XDP_TAP_RING})
            EXPECT_NE(bpf_object__find_map_by_name(obj, map), nullptr) << path << " " << map;
        const bool calls =
            btf__find_by_name_kind(bpf_object__btf(obj), "bpf_xdp_metadata_rx_timestamp",
                                   BTF_KIND_FUNC) > 0;
        EXPECT_EQ(calls, path == hwts) << path;
        bpf_object__close(obj);
    }
}

}  // namespace
