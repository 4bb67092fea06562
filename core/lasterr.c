/* llmbill core: the calling thread's last error reason (llmbill_last_error).
 * One buffer per thread; written only on failure paths, so a successful
 * llmbill_record() pays nothing for it. */
#include <stdio.h>
#include <string.h>

#include "lb.h"

static _Thread_local char last_error[LB_ERRLEN];

const char *llmbill_last_error(void)
{
    return last_error;
}

void lb_set_last_error(const struct lb_logger *lg, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    if (lg != NULL)
        lb_redact(lg, last_error, sizeof last_error);
}

void lb_record_failed(const llmbill *h, const struct llmbill_usage *u, int rc)
{
    char why[LB_ERRLEN];
    const struct lb_logger *lg = h ? &h->log : NULL;

    if (h == NULL || u == NULL) {
        lb_set_last_error(NULL, "llmbill_record: %s is NULL", h == NULL ? "the handle" : "the record");
        return;
    }
    switch (rc) {
    case LLMBILL_EINVAL:
        why[0] = '\0';
        if (lb_usage_validate(u, why, sizeof why) == 0 || why[0] == '\0')
            snprintf(why, sizeof why, "%s", llmbill_strerror(rc));
        lb_set_last_error(lg, "invalid record: %s", why);
        break;
    case LLMBILL_ENOPRICE:
        /* the record was valid, so model is a NUL-terminated string of at most LLMBILL_ID_MAX bytes */
        lb_set_last_error(lg, "model '%s'%s%s: no price in the table ([pricing] unknown = error)",
                          u->model, u->provider ? " of provider " : "",
                          u->provider ? u->provider : "");
        break;
    default:
        lb_set_last_error(lg, "%s", llmbill_strerror(rc));
        break;
    }
}
