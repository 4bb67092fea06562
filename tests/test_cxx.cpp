// Both public headers compile in a C++ translation unit, and a C++ sink can
// be defined with LLMBILL_SINK_DEFINE (extern "C" linkage).
#include "llmbill/llmbill.h"
#include "llmbill/sink.h"

#include <cstdio>
#include <cstring>

namespace {
int cxx_create(const llmbill_host *, llmbill_sink_ctx *, void **state) { *state = nullptr; return 0; }
int cxx_emit(void *, llmbill_sink_batch *) { return LLMBILL_SINK_OK; }
void cxx_destroy(void *) {}

llmbill_sink_desc make_desc()
{
    llmbill_sink_desc d;
    std::memset(&d, 0, sizeof d);
    d.struct_size = sizeof d;
    d.abi = LLMBILL_SINK_ABI;
    d.name = "cxx";
    d.max_batch = 10;
    d.create = cxx_create;
    d.emit = cxx_emit;
    d.destroy = cxx_destroy;
    return d;
}
const llmbill_sink_desc cxx_desc = make_desc();
} // namespace

LLMBILL_SINK_DEFINE(cxx_desc)

int main()
{
    llmbill_usage u = LLMBILL_USAGE_INIT;
    char json[512];
    u.customer_id = "acme";
    u.model = "gpt-4o";
    if (llmbill_usage_to_json(&u, json, sizeof json) <= 0)
        return 1;
    if (llmbill_sink_describe(LLMBILL_SINK_ABI) != &cxx_desc)
        return 1;
    if (llmbill_sink_describe(2u << 16) != nullptr)
        return 1;
    if (llmbill_version() != LLMBILL_VERSION_HEX)
        return 1;
    std::printf("test_cxx: ok (%s)\n", llmbill_version_string());
    return 0;
}
