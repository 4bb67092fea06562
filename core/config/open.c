/* llmbill core: turning a parsed llmbill.ini into a running handle.
 * Every problem is reported as "file:line: [section] key: what was expected",
 * and the handle fails closed: any error means no handle. */
#define _GNU_SOURCE
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"
#include "price.h"

#define MAX_SINKS 64

/* Keys of [llmbill]. */
static const char *const main_keys[] = {
    "callbacks", "success_callback", "failure_callback", "plugin_dir", "queue_max", "overflow",
    "overflow_block_ms", "batch_size", "linger_ms", "shutdown_timeout_ms", "retry_base_ms",
    "retry_max_ms", "retry_limit", "dead_letter_dir", "log_level", "spool_dir", "durability",
    "fsync_interval_ms", "spool_max_bytes", "segment_bytes", "spool_full", NULL
};

/* Keys every sink instance section accepts besides its plugin's options. */
static const char *const common_keys[] = {
    "plugin", "batch_size", "linger_ms", "retry_base_ms", "retry_max_ms", "retry_limit",
    "dead_letter", "max_in_flight", "timeout_ms", "connect_timeout_ms", "ca_file",
    "allow_insecure_http", NULL
};

struct ctx {
    struct llmbill *h;
    struct lb_config *cfg;
    char *err;
    size_t errlen;
};

static int in_list(const char *const *list, const char *s)
{
    for (size_t i = 0; list[i] != NULL; i++)
        if (strcmp(list[i], s) == 0)
            return 1;
    return 0;
}

static void list_keys(char *buf, size_t cap, const char *const *a, const struct llmbill_option *b)
{
    size_t l = 0;

    buf[0] = '\0';
    for (size_t i = 0; a && a[i] && l < cap; i++)
        l += (size_t)snprintf(buf + l, cap - l, "%s%s", l ? ", " : "", a[i]);
    for (size_t i = 0; b && b[i].name && l < cap; i++)
        l += (size_t)snprintf(buf + l, cap - l, "%s%s", l ? ", " : "", b[i].name);
}

/* Expands the entry's value (${ENV}); *out is malloc'd. Reports errors. */
static int expand(struct ctx *c, const struct lb_section *sec, const struct lb_entry *e, char **out)
{
    char why[256];
    int rc = lb_expand_env(e->value, out, why, sizeof why);

    if (rc == LLMBILL_ECONFIG)
        lb_errf(c->err, c->errlen, "%s:%d: [%s] %s: %s", c->cfg->file, e->line, sec->name, e->key,
                why);
    else if (rc != 0)
        lb_errf(c->err, c->errlen, "out of memory");
    return rc;
}

/* Reads an integer key of sec into *out (unchanged when absent). */
static int get_int(struct ctx *c, struct lb_section *sec, const char *key, int64_t min,
                   int64_t max, int64_t *out)
{
    struct lb_entry *e = lb_section_entry(sec, key);
    char *v;
    int rc;

    if (e == NULL)
        return 0;
    if ((rc = expand(c, sec, e, &v)) != 0)
        return rc;
    if (lb_parse_i64(v, min, max, out) != 0) {
        lb_errf(c->err, c->errlen, "%s:%d: [%s] %s: '%s' is not an integer from %lld to %lld",
                c->cfg->file, e->line, sec->name, key, v, (long long)min, (long long)max);
        free(v);
        return LLMBILL_ECONFIG;
    }
    free(v);
    return 0;
}

/* Reads a string key; *out is malloc'd, or left NULL when absent. */
static int get_str(struct ctx *c, struct lb_section *sec, const char *key, char **out)
{
    struct lb_entry *e = lb_section_entry(sec, key);

    *out = NULL;
    return e ? expand(c, sec, e, out) : 0;
}

/* The HTTP keys of a sink section (used by request-based sinks, see
 * sink.h): timeout_ms, connect_timeout_ms, max_in_flight (1..64, lowered
 * to the sink's own maximum; default LB_DEFAULT_IN_FLIGHT), ca_file and
 * allow_insecure_http. */
static int http_settings(struct ctx *c, struct lb_section *sec, struct lb_sink *s)
{
    char *ca = NULL, *insecure = NULL;
    uint32_t most = s->plugin.desc.max_in_flight;
    int rc;

    s->http_timeout_ms = 10000;
    s->http_connect_ms = 3000;
    s->max_in_flight = LB_DEFAULT_IN_FLIGHT;
    if (sec == NULL)
        goto cap;
    if ((rc = get_int(c, sec, "timeout_ms", 100, 600000, &s->http_timeout_ms)) != 0 ||
        (rc = get_int(c, sec, "connect_timeout_ms", 100, 600000, &s->http_connect_ms)) != 0 ||
        (rc = get_int(c, sec, "max_in_flight", 1, 64, &s->max_in_flight)) != 0 ||
        (rc = get_str(c, sec, "ca_file", &ca)) != 0 ||
        (rc = get_str(c, sec, "allow_insecure_http", &insecure)) != 0)
        goto out;
    if (insecure != NULL && lb_parse_bool(insecure, &s->allow_insecure_http) != 0) {
        struct lb_entry *e = lb_section_entry(sec, "allow_insecure_http");

        lb_errf(c->err, c->errlen, "%s:%d: [%s] allow_insecure_http: '%s' is not true or false",
                c->cfg->file, e->line, sec->name, insecure);
        rc = LLMBILL_ECONFIG;
        goto out;
    }
    if (ca != NULL && (s->ca_file = lb_path_join(c->cfg->dir, ca)) == NULL) {
        rc = LLMBILL_ENOMEM;
        goto out;
    }
cap:
    if (most > 0 && s->max_in_flight > (int64_t)most)
        s->max_in_flight = most;
    rc = 0;
out:
    free(ca);
    free(insecure);
    return rc;
}

static int check_keys(struct ctx *c, struct lb_section *sec, const char *const *a,
                      const struct llmbill_option *b, const char *plugin)
{
    for (size_t i = 0; i < sec->n; i++) {
        struct lb_entry *e = &sec->entries[i];
        int known = in_list(a, e->key);

        for (size_t k = 0; b && b[k].name && !known; k++)
            known = strcmp(b[k].name, e->key) == 0;
        if (!known) {
            char keys[1024];

            list_keys(keys, sizeof keys, a, b);
            lb_errf(c->err, c->errlen, "%s:%d: [%s] %s: unknown key%s%s (expected one of: %s)",
                    c->cfg->file, e->line, sec->name, e->key, plugin ? " for plugin " : "",
                    plugin ? plugin : "", keys);
            return LLMBILL_ECONFIG;
        }
    }
    return 0;
}

/* Adds names from a comma/space separated list to names[], with filter. */
static int add_names(struct ctx *c, struct lb_section *main, const char *key, int filter,
                     char **names, int *filters, size_t *n)
{
    struct lb_entry *e = lb_section_entry(main, key);
    char *v, *save = NULL, *tok;
    int rc;

    if (e == NULL)
        return 0;
    if ((rc = expand(c, main, e, &v)) != 0)
        return rc;
    for (tok = strtok_r(v, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
        size_t i;

        for (const char *p = tok; *p; p++) {
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
                  *p == '_' || *p == '-' || *p == '.' || *p == '/')) {
                lb_errf(c->err, c->errlen, "%s:%d: [llmbill] %s: '%s' is not a valid sink name "
                        "(letters, digits, _ - . /)", c->cfg->file, e->line, key, tok);
                free(v);
                return LLMBILL_ECONFIG;
            }
        }
        for (i = 0; i < *n; i++)
            if (strcmp(names[i], tok) == 0)
                break;
        if (i < *n) {
            if (filters[i] == filter) {
                lb_errf(c->err, c->errlen, "%s:%d: [llmbill] %s: '%s' is listed twice",
                        c->cfg->file, e->line, key, tok);
                free(v);
                return LLMBILL_ECONFIG;
            }
            filters[i] = LB_FILTER_ALL; /* in two lists: gets every event */
            continue;
        }
        if (*n == MAX_SINKS) {
            lb_errf(c->err, c->errlen, "%s:%d: [llmbill] %s: more than %d sinks", c->cfg->file,
                    e->line, key, MAX_SINKS);
            free(v);
            return LLMBILL_ECONFIG;
        }
        if ((names[*n] = lb_strdup(tok)) == NULL) {
            free(v);
            return LLMBILL_ENOMEM;
        }
        filters[(*n)++] = filter;
    }
    free(v);
    return 0;
}

/* Validates and stores the plugin's declared options for sink s. */
static int load_options(struct ctx *c, struct lb_sink *s, struct lb_section *sec)
{
    const struct llmbill_option *opts = s->plugin.desc.options;
    size_t n = 0;

    while (opts && opts[n].name)
        n++;
    s->opts = calloc(n ? n : 1, sizeof *s->opts);
    if (s->opts == NULL)
        return LLMBILL_ENOMEM;
    s->nopts = n;
    for (size_t i = 0; i < n; i++) {
        const struct llmbill_option *o = &opts[i];
        struct lb_opt_value *ov = &s->opts[i];
        struct lb_entry *e = lb_section_entry(sec, o->name);
        const char *envv = o->env ? getenv(o->env) : NULL;
        int line = e ? e->line : (sec ? sec->line : 0);
        int rc;

        ov->opt = o;
        if (e != NULL) {
            if ((rc = expand(c, sec, e, &ov->value)) != 0)
                return rc;
        } else if (envv != NULL && envv[0] != '\0') {
            ov->value = lb_strdup(envv);
        } else if (o->default_value != NULL) {
            ov->value = lb_strdup(o->default_value);
        }
        if (ov->value == NULL && (e || (envv && envv[0]) || o->default_value))
            return LLMBILL_ENOMEM;
        if (ov->value == NULL) {
            if (o->flags & LLMBILL_OPT_REQUIRED) {
                if (sec != NULL)
                    lb_errf(c->err, c->errlen, "%s:%d: [%s] %s: required by plugin %s (%s)%s%s",
                            c->cfg->file, line, s->name, o->name, s->plugin.desc.name,
                            o->description ? o->description : "no description",
                            o->env ? "; set it here or in the environment variable " : "",
                            o->env ? o->env : "");
                else
                    lb_errf(c->err, c->errlen, "%s: [%s] %s: required by plugin %s, but there is "
                            "no [%s] section%s%s", c->cfg->file, s->name, o->name,
                            s->plugin.desc.name, s->name,
                            o->env ? "; or set the environment variable " : "",
                            o->env ? o->env : "");
                return LLMBILL_ECONFIG;
            }
            continue;
        }
        if (((o->flags & LLMBILL_OPT_SECRET) || lb_key_looks_secret(o->name)) &&
            lb_logger_add_secret(&c->h->log, ov->value) != 0)
            return LLMBILL_ENOMEM;
        if (lb_logger_add_url_secrets(&c->h->log, ov->value) != 0)
            return LLMBILL_ENOMEM;
        if (o->type == LLMBILL_OPT_INT || o->type == LLMBILL_OPT_BOOL) {
            int64_t iv;
            int bv;
            int bad = o->type == LLMBILL_OPT_INT ? lb_parse_i64(ov->value, INT64_MIN, INT64_MAX, &iv)
                                                 : lb_parse_bool(ov->value, &bv);

            if (bad) {
                int secret = (o->flags & LLMBILL_OPT_SECRET) != 0;

                lb_errf(c->err, c->errlen, "%s:%d: [%s] %s: '%s' is not %s", c->cfg->file, line,
                        s->name, o->name, secret ? "[REDACTED]" : ov->value,
                        o->type == LLMBILL_OPT_INT ? "an integer" : "a boolean (true or false)");
                return LLMBILL_ECONFIG;
            }
        } else if (o->type == LLMBILL_OPT_PATH) {
            if ((ov->path = lb_path_join(c->cfg->dir, ov->value)) == NULL)
                return LLMBILL_ENOMEM;
        }
    }
    return 0;
}

/* Builds the NULL-ended list of directories searched for plugins, each
 * malloc'd. On failure the list is freed and empty. */
static int plugin_dirs(struct ctx *c, const struct llmbill_open_opts *opts, struct lb_section *main,
                       char **dirs, size_t max)
{
    size_t n = 0;
    const char *env = getenv("LLMBILL_PLUGIN_PATH");
    char *pd = NULL;
    int rc, oom = 0;

    if (opts && opts->plugin_dir) {
        dirs[n++] = lb_strdup(opts->plugin_dir);
    } else {
        if ((rc = get_str(c, main, "plugin_dir", &pd)) != 0)
            return rc;
        if (pd != NULL) {
            dirs[n++] = lb_path_join(c->cfg->dir, pd);
            free(pd);
        }
    }
    if (env != NULL && env[0] != '\0') {
        char *copy = lb_strdup(env), *save = NULL, *tok;

        oom = copy == NULL;
        for (tok = copy ? strtok_r(copy, ":", &save) : NULL; tok && n < max - 2;
             tok = strtok_r(NULL, ":", &save))
            dirs[n++] = lb_strdup(tok);
        free(copy);
    }
    dirs[n++] = lb_strdup(lb_installed_plugin_dir());
    dirs[n] = NULL;
    for (size_t i = 0; i < n; i++)
        oom |= dirs[i] == NULL;
    if (oom) {
        /* the list ends at its first NULL, so the caller could not free it all */
        for (size_t i = 0; i < n; i++) {
            free(dirs[i]);
            dirs[i] = NULL;
        }
        return LLMBILL_ENOMEM;
    }
    return 0;
}

static int is_price_section(const char *name)
{
    return strncmp(name, "price.", 6) == 0 && name[6] != '\0';
}

/* [pricing] and [price.MODEL]: loads the table and applies the overrides.
 * Pricing stays off when neither section exists. */
static int setup_pricing(struct ctx *c)
{
    static const char *const pricing_keys[] = { "file", "unknown", NULL };
    struct lb_section *ps = lb_config_section(c->cfg, "pricing");
    struct lb_entry *fe, *ue;
    char *file = NULL, *path, *unknown = NULL, why[LB_ERRLEN];
    int any = ps != NULL, rc;

    for (size_t i = 0; i < c->cfg->n && !any; i++)
        any = is_price_section(c->cfg->sections[i].name);
    if (!any)
        return 0;
    if (ps != NULL && (rc = check_keys(c, ps, pricing_keys, NULL, NULL)) != 0)
        return rc;
    if ((rc = get_str(c, ps, "file", &file)) != 0 || (rc = get_str(c, ps, "unknown", &unknown)) != 0) {
        free(file);
        return rc;
    }
    ue = lb_section_entry(ps, "unknown");
    if (unknown == NULL || strcmp(unknown, "unpriced") == 0) {
        c->h->unknown_price = LB_UNKNOWN_UNPRICED;
    } else if (strcmp(unknown, "error") == 0) {
        c->h->unknown_price = LB_UNKNOWN_ERROR;
    } else if (strcmp(unknown, "zero") == 0) {
        c->h->unknown_price = LB_UNKNOWN_ZERO;
    } else {
        lb_errf(c->err, c->errlen, "%s:%d: [pricing] unknown: '%s' is not error, unpriced or zero",
                c->cfg->file, ue->line, unknown);
        free(unknown);
        free(file);
        return LLMBILL_ECONFIG;
    }
    free(unknown);
    fe = lb_section_entry(ps, "file");
    path = file ? lb_path_join(c->cfg->dir, file) : lb_strdup(lb_installed_prices());
    free(file);
    if (path == NULL)
        return LLMBILL_ENOMEM;
    rc = llmbill_prices_load(&c->h->prices, path, why, sizeof why);
    c->h->prices_path = path;
    if (rc != 0) {
        if (fe != NULL)
            lb_errf(c->err, c->errlen, "%s:%d: [pricing] file: %s", c->cfg->file, fe->line, why);
        else
            lb_errf(c->err, c->errlen, "%s: [pricing] file: not set, and the installed price "
                    "table cannot be read: %s", c->cfg->file, why);
        return rc == LLMBILL_ENOMEM ? rc : LLMBILL_ECONFIG;
    }
    for (size_t i = 0; i < c->cfg->n; i++) {
        struct lb_section *sec = &c->cfg->sections[i];

        if (!is_price_section(sec->name))
            continue;
        for (size_t k = 0; k < sec->n; k++) {
            struct lb_entry *e = &sec->entries[k];
            char *v;

            if ((rc = expand(c, sec, e, &v)) != 0)
                return rc;
            rc = llmbill_prices_set(c->h->prices, sec->name + 6, e->key, v, why, sizeof why);
            free(v);
            if (rc != 0) {
                lb_errf(c->err, c->errlen, "%s:%d: [%s] %s", c->cfg->file, e->line, sec->name, why);
                return rc == LLMBILL_ENOMEM ? rc : LLMBILL_ECONFIG;
            }
        }
    }
    return 0;
}

/* Writes to c->err why section sec is not one llmbill reads, with the
 * nearest name it does read. */
static void unknown_section(struct ctx *c, const struct lb_section *sec)
{
    const char *best = NULL, *name = sec->name;
    size_t best_d = (size_t)-1, n = strlen(name), len = 0;
    char names[512] = "";

    for (size_t k = 0; k < c->h->nsinks + 2; k++) {
        const char *cand = k == 0 ? "llmbill" : k == 1 ? "pricing" : c->h->sinks[k - 2].name;
        size_t d = lb_edit_distance(name, cand), cn = strlen(cand);

        /* a near miss, or one name starting the other ([lago_eu] for lago) */
        if ((d <= 2 || d <= n / 3 || (cn >= 3 && n >= 3 && (strncmp(name, cand, cn) == 0 ||
                                                             strncmp(name, cand, n) == 0))) &&
            d < best_d) {
            best = cand;
            best_d = d;
        }
        if (k >= 2 && len < sizeof names)
            len += (size_t)snprintf(names + len, sizeof names - len, "%s%s", k > 2 ? ", " : "", cand);
    }
    if (strncmp(name, "price", 5) == 0 && !is_price_section(name))
        best = "price.MODEL";
    lb_errf(c->err, c->errlen, "%s:%d: section [%s] is not [llmbill], [pricing], [price.MODEL] or a "
            "sink instance listed in callbacks (%s): %s%s%s", c->cfg->file, sec->line, name, names,
            best ? "did you mean [" : "add it to callbacks or remove it",
            best ? best : "", best ? "]?" : "");
}

/* Every section must be one llmbill reads: a misspelt section (its keys
 * silently unused, pricing silently off) fails the open. */
static int check_sections(struct ctx *c)
{
    for (size_t i = 0; i < c->cfg->n; i++) {
        const char *sn = c->cfg->sections[i].name;
        int used = strcmp(sn, "llmbill") == 0 || strcmp(sn, "pricing") == 0 || is_price_section(sn);

        for (size_t k = 0; k < c->h->nsinks && !used; k++)
            used = strcmp(c->h->sinks[k].name, sn) == 0;
        if (!used) {
            unknown_section(c, &c->cfg->sections[i]);
            return LLMBILL_ECONFIG;
        }
    }
    return 0;
}

/* [llmbill] spool_dir and durability: sets up h->journal (NULL when there
 * is no spool_dir, or durability = memory). */
static int setup_journal(struct ctx *c, struct lb_section *main)
{
    struct lb_journal *j;
    char *dir = NULL, *dur = NULL;
    int durability = LB_DURABLE_PROCESS, rc;
    int64_t fsync_ms = 100, max_bytes = INT64_C(1) << 30, seg_bytes = INT64_C(16) << 20;

    if ((rc = get_str(c, main, "spool_dir", &dir)) != 0 ||
        (rc = get_str(c, main, "durability", &dur)) != 0)
        goto out;
    if (dur != NULL) {
        if (strcmp(dur, "memory") == 0) {
            durability = LB_DURABLE_MEMORY;
        } else if (strcmp(dur, "fsync") == 0) {
            durability = LB_DURABLE_FSYNC;
        } else if (strcmp(dur, "process") != 0) {
            lb_errf(c->err, c->errlen, "%s:%d: [llmbill] durability: '%s' is not memory, process "
                    "or fsync", c->cfg->file, lb_section_entry(main, "durability")->line, dur);
            rc = LLMBILL_ECONFIG;
            goto out;
        }
        if (durability != LB_DURABLE_MEMORY && dir == NULL) {
            lb_errf(c->err, c->errlen, "%s:%d: [llmbill] durability: '%s' needs spool_dir",
                    c->cfg->file, lb_section_entry(main, "durability")->line, dur);
            rc = LLMBILL_ECONFIG;
            goto out;
        }
    }
    {
        char *full = NULL;

        if ((rc = get_str(c, main, "spool_full", &full)) != 0)
            goto out;
        if (full != NULL && strcmp(full, "block") == 0) {
            c->h->spool_full_block = 1;
        } else if (full != NULL && strcmp(full, "error") != 0) {
            lb_errf(c->err, c->errlen, "%s:%d: [llmbill] spool_full: '%s' is not error or block",
                    c->cfg->file, lb_section_entry(main, "spool_full")->line, full);
            free(full);
            rc = LLMBILL_ECONFIG;
            goto out;
        }
        free(full);
    }
    if ((rc = get_int(c, main, "fsync_interval_ms", 1, 60000, &fsync_ms)) != 0 ||
        (rc = get_int(c, main, "spool_max_bytes", 1 << 16, INT64_MAX, &max_bytes)) != 0 ||
        (rc = get_int(c, main, "segment_bytes", 1 << 12, INT64_C(1) << 32, &seg_bytes)) != 0)
        goto out;
    if (dir == NULL || durability == LB_DURABLE_MEMORY)
        goto out;
    j = calloc(1, sizeof *j);
    if (j == NULL || (j->dir = lb_path_join(c->cfg->dir, dir)) == NULL) {
        free(j);
        rc = LLMBILL_ENOMEM;
        goto out;
    }
    j->fd = -1;
    j->lock_fd = -1;
    j->durability = durability;
    j->fsync_ms = fsync_ms;
    j->max_bytes = (uint64_t)max_bytes;
    j->seg_bytes = (uint64_t)seg_bytes;
    c->h->journal = j;
    rc = lb_journal_open(c->h, c->err, c->errlen);
out:
    free(dir);
    free(dur);
    return rc;
}

/* The handle's own block (struct llmbill) is mapped rather than malloc'd,
 * and llmbill_close() frees everything but it: a llmbill_record() racing
 * close must find the gates and the closing flag in live memory, whenever
 * it reads them (see lb_record_enter()). A closed handle thus keeps one
 * page; a failed open unmaps it. NULL when out of memory. */
static struct llmbill *handle_alloc(void)
{
    void *p = mmap(NULL, sizeof(struct llmbill), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    return p == MAP_FAILED ? NULL : p;
}

/* Frees what h holds; unmaps h itself too unless retire is set. */
static void free_handle(struct llmbill *h, int retire)
{
    if (h == NULL)
        return;
    lb_poison_close(h);
    lb_journal_free(h->journal);
    for (size_t i = 0; i < h->nsinks; i++) {
        struct lb_sink *s = &h->sinks[i];

        if (s->abandoned) {
            /* its worker is still inside the sink: the state, the code and
             * what the sink may still read (its options, name, batch, the
             * queue's events, the logger) stay; only its dead-letter file
             * is closed */
            lb_deadletter_close(s);
            continue;
        }
        if (s->created)
            s->plugin.desc.destroy(s->state);
        lb_plugin_unload(&s->plugin);
        for (size_t k = 0; k < s->nopts; k++) {
            if (s->opts[k].value)
                memset(s->opts[k].value, 0, strlen(s->opts[k].value));
            free(s->opts[k].value);
            free(s->opts[k].path);
        }
        free(s->opts);
        lb_batch_free(s->batch);
        lb_async_free(s);
        free(s->ca_file);
        lb_deadletter_close(s);
        free(s->dead_letter_path);
        free(s->name);
        free(s->cursor);
    }
    if (h->abandoned)
        return; /* a worker left in its sink (lb_dispatch_stop()): the rest is never freed */
    llmbill_prices_free(h->prices);
    free(h->prices_path);
    free(h->sinks);
    for (unsigned k = 0; k < h->nshards; k++) {
        struct lb_slot *ring = h->shards[k].ring;

        for (uint64_t i = 0; ring != NULL && i < h->cap; i++)
            if (ring[i].ev != NULL && ring[i].ev->heap)
                free(ring[i].ev);
        lb_ring_free(ring, h->cap);
    }
    free(h->shards);
    lb_config_free(h->cfg);
    lb_logger_free(&h->log);
    if (!retire)
        munmap(h, sizeof *h);
}

void lb_handle_free(struct llmbill *h)
{
    free_handle(h, 1);
}

/* Sets up sink s: section checks, plugin load, common keys, options. */
static int setup_sink(struct ctx *c, struct lb_sink *s, struct lb_section *main, char **dirs,
                      const char *dl_dir, int64_t batch_size)
{
    struct lb_section *sec = lb_config_section(c->cfg, s->name);
    char *plugin = NULL, *dl = NULL;
    int64_t bs = batch_size;
    int rc;

    if ((rc = get_str(c, sec, "plugin", &plugin)) != 0)
        return rc;
    rc = lb_plugin_load(plugin ? plugin : s->name, (const char *const *)dirs, c->cfg->dir,
                        &s->plugin, c->err, c->errlen);
    if (rc != 0) {
        char why[LB_ERRLEN];
        struct lb_entry *pe = lb_section_entry(sec, "plugin");
        struct lb_entry *le = lb_section_entry(main, s->filter == LB_FILTER_ALL ? "callbacks"
                                               : s->filter == LB_FILTER_SUCCESS ? "success_callback"
                                               : "failure_callback");

        snprintf(why, sizeof why, "%s", c->err ? c->err : "");
        lb_errf(c->err, c->errlen, "%s:%d: [%s] %s: sink '%s': %s", c->cfg->file,
                pe ? pe->line : le ? le->line : 0, pe ? s->name : "llmbill",
                pe ? "plugin" : le ? le->key : "callbacks", s->name, why);
        free(plugin);
        return rc;
    }
    free(plugin);
    if (sec != NULL && (rc = check_keys(c, sec, common_keys, s->plugin.desc.options,
                                        s->plugin.desc.name)) != 0)
        return rc;
    if ((rc = get_int(c, sec, "batch_size", 1, 100000, &bs)) != 0 ||
        (rc = get_int(c, sec, "linger_ms", 0, 3600000, &s->linger_ms)) != 0 ||
        (rc = get_int(c, sec, "retry_base_ms", 1, 3600000, &s->retry_base_ms)) != 0 ||
        (rc = get_int(c, sec, "retry_max_ms", 1, 86400000, &s->retry_max_ms)) != 0 ||
        (rc = get_int(c, sec, "retry_limit", -1, 1000000000, &s->retry_limit)) != 0 ||
        (rc = get_str(c, sec, "dead_letter", &dl)) != 0)
        return rc;
    if ((rc = http_settings(c, sec, s)) != 0) {
        free(dl);
        return rc;
    }
    s->batch_max = (uint32_t)bs;
    if (s->plugin.desc.max_batch == 0)
        s->batch_max = 1;
    else if (s->batch_max > s->plugin.desc.max_batch)
        s->batch_max = s->plugin.desc.max_batch;
    if (s->retry_max_ms < s->retry_base_ms)
        s->retry_max_ms = s->retry_base_ms;
    if (dl != NULL) {
        s->dead_letter_path = lb_path_join(c->cfg->dir, dl);
        free(dl);
    } else {
        /* the instance name encoded (lb_name_encode): distinct names,
         * distinct files ("x/lago" is x%2Flago, "x_lago" stays x_lago) */
        char *enc = lb_name_encoded(s->name);
        size_t need = strlen(dl_dir) + (enc ? strlen(enc) : 0) + 32;
        char *rel = enc ? malloc(need) : NULL;

        if (rel != NULL) {
            snprintf(rel, need, "%s/%s.deadletter.jsonl", dl_dir, enc);
            s->dead_letter_path = lb_path_join(c->cfg->dir, rel);
            free(rel);
        }
        free(enc);
    }
    if (s->dead_letter_path == NULL)
        return LLMBILL_ENOMEM;
    {
        /* its directory, if it exists, must be this user's alone */
        char *d = lb_strdup(s->dead_letter_path), *slash = d ? strrchr(d, '/') : NULL;
        int bad;

        if (d == NULL)
            return LLMBILL_ENOMEM;
        if (slash != NULL)
            *slash = '\0';
        bad = lb_dir_private(slash == NULL ? "." : slash == d ? "/" : d, "dead-letter directory",
                             c->err, c->errlen);
        free(d);
        if (bad) {
            char why[LB_ERRLEN];

            snprintf(why, sizeof why, "%s", c->err ? c->err : "");
            lb_errf(c->err, c->errlen, "sink %s: %s", s->name, why);
            return LLMBILL_ECONFIG;
        }
    }
    return load_options(c, s, sec);
}

static int parse_main(struct ctx *c, struct lb_section *main, int64_t *queue_max,
                      int64_t *batch_size, int64_t *defaults, char **dl_dir)
{
    struct llmbill *h = c->h;
    char *v = NULL;
    int rc;

    if ((rc = check_keys(c, main, main_keys, NULL, NULL)) != 0)
        return rc;
    if ((rc = get_str(c, main, "log_level", &v)) != 0)
        return rc;
    if (v != NULL) {
        static const char *const lv[] = { "error", "warn", "info", "debug" };
        int found = -1;

        for (int i = 0; i < 4; i++)
            if (strcmp(v, lv[i]) == 0)
                found = i;
        if (found < 0) {
            lb_errf(c->err, c->errlen, "%s:%d: [llmbill] log_level: '%s' is not one of error, "
                    "warn, info, debug", c->cfg->file, lb_section_entry(main, "log_level")->line, v);
            free(v);
            return LLMBILL_ECONFIG;
        }
        h->log.level = found;
        free(v);
    }
    if ((rc = get_str(c, main, "overflow", &v)) != 0)
        return rc;
    if (v != NULL) {
        if (strcmp(v, "error") == 0) {
            h->overflow_block = 0;
        } else if (strcmp(v, "block") == 0) {
            h->overflow_block = 1;
        } else {
            lb_errf(c->err, c->errlen, "%s:%d: [llmbill] overflow: '%s' is not 'error' or 'block'",
                    c->cfg->file, lb_section_entry(main, "overflow")->line, v);
            free(v);
            return LLMBILL_ECONFIG;
        }
        free(v);
    }
    if ((rc = get_int(c, main, "queue_max", 16, 1 << 24, queue_max)) != 0 ||
        (rc = get_int(c, main, "overflow_block_ms", 0, 60000, &h->overflow_block_ms)) != 0 ||
        (rc = get_int(c, main, "batch_size", 1, 100000, batch_size)) != 0 ||
        (rc = get_int(c, main, "linger_ms", 0, 3600000, &defaults[0])) != 0 ||
        (rc = get_int(c, main, "retry_base_ms", 1, 3600000, &defaults[1])) != 0 ||
        (rc = get_int(c, main, "retry_max_ms", 1, 86400000, &defaults[2])) != 0 ||
        (rc = get_int(c, main, "retry_limit", -1, 1000000000, &defaults[3])) != 0 ||
        (rc = get_int(c, main, "shutdown_timeout_ms", 0, 3600000, &h->shutdown_timeout_ms)) != 0 ||
        (rc = get_str(c, main, "dead_letter_dir", dl_dir)) != 0)
        return rc;
    return 0;
}

int lb_open_config(struct llmbill **out, struct lb_config *cfg, const struct llmbill_open_opts *opts,
                   char *err, size_t errlen)
{
    struct llmbill *h = handle_alloc();
    struct ctx c = { h, cfg, err, errlen };
    struct lb_section *main;
    char *names[MAX_SINKS], *dirs[64], *dl_dir = NULL;
    int filters[MAX_SINKS];
    size_t nnames = 0;
    int64_t queue_max = 32768, batch_size = 100;
    int64_t defaults[4] = { 200, 500, 60000, -1 }; /* linger, base, max, limit */
    int rc;

    *out = NULL;
    memset(dirs, 0, sizeof dirs);
    if (h == NULL) {
        lb_config_free(cfg);
        return LLMBILL_ENOMEM;
    }
    h->cfg = cfg;
    h->fork_gen = lb_fork_init();
    lb_rgate_init();
    h->log.level = LLMBILL_LOG_WARN;
    h->shutdown_timeout_ms = 5000;
    h->overflow_block_ms = 100;
    if (opts != NULL && opts->struct_size >= offsetof(struct llmbill_open_opts, log_ud)) {
        h->log.cb = opts->log_cb;
        h->log.ud = opts->log_ud;
    }
    /* every value of a key that looks secret is redacted, whatever its
     * section, and so is the userinfo of every URL in any value
     * ("https://user:pass@host"); a secret that cannot be registered fails
     * the open, so that it never reaches a log line unredacted */
    for (size_t i = 0; i < cfg->n; i++)
        for (size_t k = 0; k < cfg->sections[i].n; k++) {
            const char *raw = cfg->sections[i].entries[k].value;
            int secret = lb_key_looks_secret(cfg->sections[i].entries[k].key);
            char *v = NULL;
            int erc = lb_expand_env(raw, &v, NULL, 0);

            if (erc == LLMBILL_ENOMEM || (secret && lb_logger_add_secret(&h->log, raw) != 0) ||
                (erc == 0 && secret && lb_logger_add_secret(&h->log, v) != 0) ||
                lb_logger_add_url_secrets(&h->log, raw) != 0 ||
                (erc == 0 && lb_logger_add_url_secrets(&h->log, v) != 0)) {
                free(v);
                lb_errf(err, errlen, "out of memory registering secrets for redaction");
                rc = LLMBILL_ENOMEM;
                goto fail;
            }
            free(v);
        }
    main = lb_config_section(cfg, "llmbill");
    if (main == NULL) {
        lb_errf(err, errlen, "%s: no [llmbill] section (it lists the sinks: callbacks = jsonl)",
                cfg->file);
        rc = LLMBILL_ECONFIG;
        goto fail;
    }
    if ((rc = parse_main(&c, main, &queue_max, &batch_size, defaults, &dl_dir)) != 0)
        goto fail;
    if ((rc = add_names(&c, main, "callbacks", LB_FILTER_ALL, names, filters, &nnames)) != 0 ||
        (rc = add_names(&c, main, "success_callback", LB_FILTER_SUCCESS, names, filters,
                        &nnames)) != 0 ||
        (rc = add_names(&c, main, "failure_callback", LB_FILTER_FAILURE, names, filters,
                        &nnames)) != 0)
        goto fail_names;
    if (nnames == 0) {
        lb_errf(err, errlen, "%s:%d: [llmbill] callbacks: no sink listed (expected e.g. "
                "callbacks = jsonl)", cfg->file, main->line);
        rc = LLMBILL_ECONFIG;
        goto fail_names;
    }
    if ((rc = plugin_dirs(&c, opts, main, dirs, sizeof dirs / sizeof dirs[0])) != 0)
        goto fail_names;
    h->sinks = calloc(nnames, sizeof *h->sinks);
    if (h->sinks == NULL) {
        rc = LLMBILL_ENOMEM;
        goto fail_names;
    }
    for (size_t i = 0; i < nnames; i++) {
        struct lb_sink *s = &h->sinks[i];

        s->h = h;
        s->index = i;
        s->name = names[i];
        names[i] = NULL;
        s->filter = filters[i];
        s->dl_fd = -1;
        s->linger_ms = defaults[0];
        s->retry_base_ms = defaults[1];
        s->retry_max_ms = defaults[2];
        s->retry_limit = defaults[3];
        h->nsinks = i + 1;
        if ((rc = setup_sink(&c, s, main, dirs, dl_dir ? dl_dir : "deadletter", batch_size)) != 0)
            goto fail_names;
    }
    if ((rc = setup_pricing(&c)) != 0)
        goto fail_names;
    if ((rc = check_sections(&c)) != 0)
        goto fail_names;
    for (size_t i = 0; i < h->nsinks; i++) {
        struct lb_sink *s = &h->sinks[i];

        s->create_error[0] = '\0';
        if (s->plugin.desc.create(&lb_host_table, (llmbill_sink_ctx *)(void *)s, &s->state) != 0) {
            lb_errf(err, errlen, "sink %s (plugin %s, %s): create failed: %s", s->name,
                    s->plugin.desc.name, s->plugin.path,
                    s->create_error[0] ? s->create_error : "no reason given");
            rc = LLMBILL_ESINK;
            goto fail_names;
        }
        s->created = 1;
    }
    h->queue_max = (uint64_t)queue_max;
    h->paused = opts != NULL && (opts->flags & LLMBILL_OPEN_PAUSED) != 0;
    /* every dead-letter file must take writes before the first event needs
     * it (a paused handle writes nothing, and creates nothing) */
    for (size_t i = 0; !h->paused && i < h->nsinks; i++) {
        if (lb_deadletter_open(&h->sinks[i], err, errlen) != 0) {
            rc = LLMBILL_EIO;
            goto fail_names;
        }
    }
    if ((rc = setup_journal(&c, main)) != 0)
        goto fail_names;
    if ((rc = lb_dispatch_start(h, !h->paused, err, errlen)) != 0 ||
        (!h->paused && h->journal != NULL && (rc = lb_journal_start(h)) != 0)) {
        lb_dispatch_stop(h);
        goto fail_names;
    }
    for (size_t i = 0; dirs[i]; i++)
        free(dirs[i]);
    free(dl_dir);
    *out = h;
    return 0;
fail_names:
    for (size_t i = 0; i < nnames; i++)
        free(names[i]);
fail:
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0] && dirs[i]; i++)
        free(dirs[i]);
    free(dl_dir);
    if (err != NULL) {
        lb_redact(&h->log, err, errlen);
        lb_ctl_escape_buf(err, errlen); /* names and values from the config, escaped */
    }
    free_handle(h, 0);
    return rc;
}
