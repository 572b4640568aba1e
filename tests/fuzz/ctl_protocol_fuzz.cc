// libFuzzer: the control-protocol parser on arbitrary bytes, framed as a stream (what a
// hostile app can send): it must never read outside the buffer, and whatever it accepts
// must survive a round trip through the builder.
#include <cstdint>
#include <cstdlib>

#include "ctl/protocol.h"

using namespace ingress::ctl;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::span<const uint8_t> buf(data, size);
    while (!buf.empty()) {
        auto need = message_size(buf);
        if (!need || *need > buf.size()) break;
        ParseResult r = parse(buf);
        if (!r.msg) break;
        if (r.consumed == 0 || r.consumed > buf.size()) std::abort();
        Builder b(r.msg->type, r.msg->seq);
        for (const AttrView& a : r.msg->attrs) {
            if (a.value.data() < data || a.value.data() + a.value.size() > data + size) std::abort();
            if (a.value.size() == 4) b.u32(a.type, r.msg->u32(a.type).value_or(0));
        }
        auto again = b.finish();
        if (!parse(again).msg) std::abort();
        buf = buf.subspan(r.consumed);
    }
    return 0;
}
