// libFuzzer: the control-protocol parser on arbitrary bytes, framed as a stream (what a
// hostile app can send): it must never read outside the buffer, and whatever it accepts
// must survive a round trip through the builder. Nested items (the operator's list replies)
// are parsed too, with the same bounds checks.
#include <cstdint>
#include <cstdlib>

#include "ctl/protocol.h"

using namespace ingress::ctl;

namespace {

void check_within(const Attrs& attrs, const uint8_t* data, size_t size, int depth) {
    for (const AttrView& a : attrs.attrs)
        if (a.value.data() < data || a.value.data() + a.value.size() > data + size) std::abort();
    if (attrs.u64_array(Attr::kCounters).size() * 8 > size) std::abort();
    if (depth == 2) return;
    for (Attr n : {Attr::kWorkerCounters, Attr::kEndpoint, Attr::kMembership, Attr::kRoute})
        if (auto items = attrs.all_nested(n))
            for (const Attrs& item : *items) check_within(item, data, size, depth + 1);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> buf(data, size);
    while (!buf.empty()) {
        auto need = message_size(buf);
        if (!need || *need > buf.size()) break;
        ParseResult r = parse(buf);
        if (!r.msg) break;
        if (r.consumed == 0 || r.consumed > buf.size()) std::abort();
        check_within(*r.msg, data, size, 0);
        Builder b(r.msg->type, r.msg->seq);
        for (const AttrView& a : r.msg->attrs) {
            if (a.value.data() < data || a.value.data() + a.value.size() > data + size)
                std::abort();
            if (a.value.size() == 4) b.u32(a.type, r.msg->u32(a.type).value_or(0));
        }
        auto again = b.finish();
        if (!parse(again).msg) std::abort();
        buf = buf.subspan(r.consumed);
    }
    return 0;
}
