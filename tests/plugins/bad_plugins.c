/* Broken sink plugins, one per loader failure. Built several times with a
 * different BAD_* definition each. */
#include <stddef.h>

#include "llmbill/sink.h"

__attribute__((unused)) static int c_(const struct llmbill_host *h, llmbill_sink_ctx *c, void **s) { (void)h; (void)c; *s = NULL; return 0; }
__attribute__((unused)) static int e_(void *s, struct llmbill_sink_batch *b) { (void)s; (void)b; return 0; }
__attribute__((unused)) static void d_(void *s) { (void)s; }

#if defined(BAD_NOSYM)
/* exports no entry symbol */
__attribute__((visibility("default"))) int not_a_sink(void);
int not_a_sink(void) { return 42; }
#elif defined(BAD_REFUSE)
/* refuses every host ABI */
LLMBILL_SINK_LINKAGE LLMBILL_PLUGIN_EXPORT const struct llmbill_sink_desc *llmbill_sink_describe(uint32_t a);
LLMBILL_SINK_LINKAGE LLMBILL_PLUGIN_EXPORT const struct llmbill_sink_desc *llmbill_sink_describe(uint32_t a)
{ (void)a; return NULL; }
#elif defined(BAD_MAJOR)
/* claims ABI 2.0 and ignores the host's version */
static const struct llmbill_sink_desc d = { sizeof d, 2u << 16, "major", "1", "", 0, 1, NULL, c_, e_, NULL, d_, NULL, 0, 0, NULL, NULL };
LLMBILL_SINK_LINKAGE LLMBILL_PLUGIN_EXPORT const struct llmbill_sink_desc *llmbill_sink_describe(uint32_t a);
LLMBILL_SINK_LINKAGE LLMBILL_PLUGIN_EXPORT const struct llmbill_sink_desc *llmbill_sink_describe(uint32_t a)
{ (void)a; return &d; }
#elif defined(BAD_NOEMIT)
static const struct llmbill_sink_desc d = { sizeof d, LLMBILL_SINK_ABI, "noemit", "1", "", 0, 1, NULL, c_, NULL, NULL, d_, NULL, 0, 0, NULL, NULL };
LLMBILL_SINK_DEFINE(d)
#elif defined(BAD_SMALL)
static const struct llmbill_sink_desc d = { 16, LLMBILL_SINK_ABI, "small", "1", "", 0, 1, NULL, c_, e_, NULL, d_, NULL, 0, 0, NULL, NULL };
LLMBILL_SINK_DEFINE(d)
#elif defined(OLD_V10)
/* a well-formed sink built against ABI 1.0: its descriptor ends at destroy */
static const struct llmbill_sink_desc d = { offsetof(struct llmbill_sink_desc, check),
    (1u << 16) | 0u, "bad_v10", "1.0", "", 0, 1, NULL, c_, e_, NULL, d_, NULL, 0, 0, NULL, NULL };
LLMBILL_SINK_DEFINE(d)
#elif defined(BAD_UNDEF)
/* needs a symbol nobody defines: dlopen(RTLD_NOW) fails */
extern int llmbill_test_symbol_that_does_not_exist(void);
static int e2(void *s, struct llmbill_sink_batch *b) { (void)s; (void)b; return llmbill_test_symbol_that_does_not_exist(); }
static const struct llmbill_sink_desc d = { sizeof d, LLMBILL_SINK_ABI, "undef", "1", "", 0, 1, NULL, c_, e2, NULL, d_, NULL, 0, 0, NULL, NULL };
LLMBILL_SINK_DEFINE(d)
#endif
