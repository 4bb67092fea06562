/* Config and loader failures: every one fails closed with a message naming
 * the file, the line, the key and what was expected. */
#include "t.h"
#include "lb.h"

static char err[2048];
static const char *dir;

/* Writes ini to DIR/NAME and opens it; returns the rc. */
static int open_file(const char *name, const char *ini, llmbill **h)
{
    char path[512];
    struct llmbill_open_opts o;

    snprintf(path, sizeof path, "%s/%s", dir, name);
    t_write(path, ini);
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    err[0] = '\0';
    *h = NULL;
    return llmbill_open(h, path, &o);
}

static void expect_file_error(const char *ini, int want_rc, const char *want)
{
    llmbill *h;
    int rc = open_file("x.ini", ini, &h);

    if (rc != want_rc || strstr(err, want) == NULL) {
        fprintf(stderr, "ini:\n%s\nrc %d (want %d), err: %s\nwanted: %s\n", ini, rc, want_rc, err,
                want);
        exit(1);
    }
    CHECK(h == NULL);
}

#define P "plugin_dir = " TEST_PLUGIN_DIR "\n"

static void syntax_errors(void)
{
    char longline[600];

    expect_file_error("[llmbill]\ncallbacks = testsink\nbogus = 1\n", LLMBILL_ECONFIG,
                      "x.ini:3: [llmbill] bogus: unknown key (expected one of: callbacks,");
    expect_file_error("[llmbill]\ncallbacks = testsink\n\ncallbacks = x\n", LLMBILL_ECONFIG,
                      "x.ini:4: [llmbill] callbacks: key set twice (first at line 2");
    expect_file_error("callbacks = testsink\n[llmbill]\n", LLMBILL_ECONFIG,
                      "x.ini:1: key 'callbacks' is outside any section");
    expect_file_error("[llmbill]\ncallbacks = testsink\n; fine\nthis is not ini\n", LLMBILL_ECONFIG,
                      "x.ini:4: syntax error");
    expect_file_error("[llmbill\ncallbacks = testsink\n", LLMBILL_ECONFIG, "x.ini:1: syntax error");
    snprintf(longline, sizeof longline, "[llmbill]\n" P "callbacks = testsink\n[testsink]\n"
             "output = /tmp/%0400d\n", 7);
    expect_file_error(longline, LLMBILL_ECONFIG, "x.ini:5: line too long (at most");
    /* a line of stray carriage returns overflowed inih's buffer once (found by the fuzzer) */
    {
        char cr[400];

        memset(cr, '\r', sizeof cr - 1);
        memcpy(cr, "[llmbill]\nk = v", 15);
        cr[sizeof cr - 1] = '\0';
        expect_file_error(cr, LLMBILL_ECONFIG, "x.ini:2: line too long");
    }
    expect_file_error("; nothing\n", LLMBILL_ECONFIG, "x.ini: no [llmbill] section");
    expect_file_error("[llmbill]\nqueue_max = 100\n", LLMBILL_ECONFIG,
                      "[llmbill] callbacks: no sink listed");
    expect_file_error("[llmbill]\ncallbacks = a, a\n", LLMBILL_ECONFIG,
                      "x.ini:2: [llmbill] callbacks: 'a' is listed twice");
    expect_file_error("[llmbill]\ncallbacks = a;b\n", LLMBILL_ECONFIG, "callbacks: 'a;b'");
}

static void value_errors(void)
{
    expect_file_error("[llmbill]\n" P "callbacks = testsink\nqueue_max = lots\n", LLMBILL_ECONFIG,
                      "x.ini:4: [llmbill] queue_max: 'lots' is not an integer from 16 to");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\noverflow = drop\n", LLMBILL_ECONFIG,
                      "x.ini:4: [llmbill] overflow: 'drop' is not 'error' or 'block'");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\nlog_level = loud\n", LLMBILL_ECONFIG,
                      "x.ini:4: [llmbill] log_level: 'loud' is not one of");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\n[testsink]\nsleep_ms = fast\n",
                      LLMBILL_ECONFIG, "x.ini:5: [testsink] sleep_ms: 'fast' is not an integer");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\n[testsink]\nfail_create = maybe\n",
                      LLMBILL_ECONFIG, "x.ini:5: [testsink] fail_create: 'maybe' is not a boolean");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\n[testsink]\nbatch_size = 0\n",
                      LLMBILL_ECONFIG, "x.ini:5: [testsink] batch_size: '0' is not an integer");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\n[testsink]\ncolour = blue\n",
                      LLMBILL_ECONFIG, "x.ini:5: [testsink] colour: unknown key for plugin "
                      "testsink (expected one of: plugin, batch_size,");
    expect_file_error("[llmbill]\nplugin_dir = " PLUGIN_DIR "\ncallbacks = jsonl\n[jsonl]\nfsync = true\n",
                      LLMBILL_ECONFIG, "x.ini:4: [jsonl] path: required by plugin jsonl");
    expect_file_error("[llmbill]\nplugin_dir = " PLUGIN_DIR "\ncallbacks = jsonl\n", LLMBILL_ECONFIG,
                      "[jsonl] path: required by plugin jsonl, but there is no [jsonl] section");
}

static void env_expansion(void)
{
    llmbill *h;
    char path[512], *s;

    unsetenv("LLMBILL_T_UNSET");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\n[testsink]\noutput = ${LLMBILL_T_UNSET}/x\n",
                      LLMBILL_ECONFIG,
                      "x.ini:5: [testsink] output: environment variable LLMBILL_T_UNSET is not set");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\n[testsink]\noutput = ${1BAD}\n",
                      LLMBILL_ECONFIG, "x.ini:5: [testsink] output: bad variable name '1BAD'");
    expect_file_error("[llmbill]\n" P "callbacks = testsink\n[testsink]\noutput = ${OPEN\n",
                      LLMBILL_ECONFIG, "x.ini:5: [testsink] output: unterminated ${");
    setenv("LLMBILL_T_DIR", dir, 1);
    CHECK_EQ_INT(open_file("env.ini", "[llmbill]\n" P "callbacks = testsink\n[testsink]\n"
                           "output = ${LLMBILL_T_DIR}/env-${LLMBILL_T_UNSET:-dflt}-$$.txt\n", &h), 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    snprintf(path, sizeof path, "%s/env-dflt-$.txt", dir);
    s = t_read(path);
    CHECK_CONTAINS(s, "received=0");
    free(s);
}

/* the host's sink ABI minor, as the loader prints it */
#define ABI_STR_(x) #x
#define ABI_STR(x) ABI_STR_(x)
#define ABI_MINOR_STR ABI_STR(LLMBILL_SINK_ABI_MINOR)

static void loader_errors(void)
{
    expect_file_error("[llmbill]\n" P "callbacks = testsink, nope\n", LLMBILL_ELOAD,
                      "x.ini:3: [llmbill] callbacks: sink 'nope': plugin 'nope' not found "
                      "(searched: " TEST_PLUGIN_DIR "/nope.so");
    expect_file_error("[llmbill]\n" P "callbacks = x\n[x]\nplugin = nope\n", LLMBILL_ELOAD,
                      "x.ini:5: [x] plugin: sink 'x': plugin 'nope' not found");
    expect_file_error("[llmbill]\n" P "callbacks = bad_undef\n", LLMBILL_ELOAD,
                      "undefined symbol: llmbill_test_symbol_that_does_not_exist");
    expect_file_error("[llmbill]\n" P "callbacks = bad_nosym\n", LLMBILL_ELOAD,
                      "does not export llmbill_sink_describe()");
    expect_file_error("[llmbill]\n" P "callbacks = bad_refuse\n", LLMBILL_EABI,
                      "refused host sink ABI 1." ABI_MINOR_STR);
    expect_file_error("[llmbill]\n" P "callbacks = bad_major\n", LLMBILL_EABI,
                      "was built for sink ABI 2.0; this host speaks 1." ABI_MINOR_STR);
    expect_file_error("[llmbill]\n" P "callbacks = bad_noemit\n", LLMBILL_EABI,
                      "descriptor lacks emit() (or request() and response())");
    expect_file_error("[llmbill]\n" P "callbacks = bad_small\n", LLMBILL_EABI,
                      "has a descriptor of 16 bytes");
    expect_file_error("[llmbill]\ncallbacks = x\n[x]\nplugin = ./no/such.so\n", LLMBILL_ELOAD,
                      "no/such.so: No such file or directory");
}

static void abi_1_0_sink_still_loads(void)
{
    llmbill *h;
    char msg[256];

    CHECK_EQ_INT(t_open(&h, "[llmbill]\n" P "callbacks = bad_v10\n", err, sizeof err), 0);
    CHECK_EQ_INT(llmbill_check_sink(h, 0, msg, sizeof msg, 5000), 0);
    CHECK_CONTAINS(msg, "no remote check");
    CHECK_EQ_INT(llmbill_check_sink(h, 1, msg, sizeof msg, 5000), LLMBILL_ENOTFOUND);
    llmbill_close(h);
}

static void secret_key_names(void)
{
    static const char *const secret[] = { "api_key", "API_KEY", "key", "secret", "client_secret",
                                          "password", "access_token", "token", "auth",
                                          "basic_auth", "credentials_file" };
    static const char *const plain[] = { "input_cost_per_token", "output_cost_per_token",
                                         "auth_retry_ms", "keyspace", "event_code", "path",
                                         "max_tokens", "api_base" };

    for (size_t i = 0; i < sizeof secret / sizeof secret[0]; i++)
        CHECK(lb_key_looks_secret(secret[i]));
    for (size_t i = 0; i < sizeof plain / sizeof plain[0]; i++)
        CHECK(!lb_key_looks_secret(plain[i]));
}

static void world_writable_refused(void)
{
    char cmd[1024];

    snprintf(cmd, sizeof cmd, "cp %s/testsink.so %s/ww.so && chmod 0666 %s/ww.so", TEST_PLUGIN_DIR,
             dir, dir);
    CHECK_EQ_INT(system(cmd), 0);
    expect_file_error("[llmbill]\ncallbacks = x\n[x]\nplugin = ./ww.so\n", LLMBILL_ELOAD,
                      "ww.so is world-writable; refusing to load it");
}

static void create_error_redacts_secrets(void)
{
    llmbill *h;
    int rc;

    rc = open_file("s.ini", "[llmbill]\n" P "callbacks = testsink\n[testsink]\n"
                   "secret = hunter2-very-secret\nfail_create = true\n", &h);
    CHECK_EQ_INT(rc, LLMBILL_ESINK);
    CHECK_CONTAINS(err, "sink testsink (plugin testsink,");
    CHECK_CONTAINS(err, "create failed: refusing to start with secret [REDACTED]");
    CHECK_NOT_CONTAINS(err, "hunter2");
    /* the same secret from the option's environment variable */
    setenv("TESTSINK_SECRET", "env-secret-value-123", 1);
    rc = open_file("s2.ini", "[llmbill]\n" P "callbacks = testsink\n[testsink]\n"
                   "fail_create = true\n", &h);
    CHECK_EQ_INT(rc, LLMBILL_ESINK);
    CHECK_NOT_CONTAINS(err, "env-secret-value-123");
    CHECK_CONTAINS(err, "[REDACTED]");
    unsetenv("TESTSINK_SECRET");
    /* a secret-looking key's value in a config error is not echoed either */
    rc = open_file("s3.ini", "[llmbill]\n" P "callbacks = testsink\n[testsink]\n"
                   "api_key = sk-live-abcdef\n", &h);
    CHECK_EQ_INT(rc, LLMBILL_ECONFIG);
    CHECK_CONTAINS(err, "api_key: unknown key");
    CHECK_NOT_CONTAINS(err, "sk-live-abcdef");
}

static char logbuf[8192];
/* A section llmbill does not read fails the open, naming the line and the
 * near miss; a bare [pricing] means the installed table, never "off". */
static void sections_fail_closed(void)
{
    const char *head = "[llmbill]\n" P "callbacks = eu, us\n[eu]\nplugin = testsink\n"
                       "[us]\nplugin = testsink\n";
    char ini[1024];

    snprintf(ini, sizeof ini, "%s[pricng]\nunknown = error\n", head);
    expect_file_error(ini, LLMBILL_ECONFIG, "x.ini:8: section [pricng] is not [llmbill], [pricing], "
                      "[price.MODEL] or a sink instance listed in callbacks (eu, us): did you "
                      "mean [pricing]?");
    /* an empty misspelt section is seen too (inih reports only keys) */
    snprintf(ini, sizeof ini, "%s\n[llmbil]\n", head);
    expect_file_error(ini, LLMBILL_ECONFIG, "x.ini:9: section [llmbil] is not");
    expect_file_error(ini, LLMBILL_ECONFIG, "did you mean [llmbill]?");
    /* an instance never listed in callbacks; its secret stays out of the message */
    snprintf(ini, sizeof ini, "%s[eu_2]\nplugin = testsink\nsecret = sk-unused-but-secret\n", head);
    expect_file_error(ini, LLMBILL_ECONFIG, "x.ini:8: section [eu_2] is not");
    expect_file_error(ini, LLMBILL_ECONFIG, "did you mean [eu]?");
    CHECK_NOT_CONTAINS(err, "sk-unused-but-secret");
    snprintf(ini, sizeof ini, "%s[zzzzzzzz]\nx = 1\n", head);
    expect_file_error(ini, LLMBILL_ECONFIG, "[zzzzzzzz] is not [llmbill], [pricing], [price.MODEL] or "
                      "a sink instance listed in callbacks (eu, us): add it to callbacks or remove it");
    snprintf(ini, sizeof ini, "%s[prices.gpt-4o]\ninput_cost_per_token = 1\n", head);
    expect_file_error(ini, LLMBILL_ECONFIG, "did you mean [price.MODEL]?");
    /* a bare [pricing] turns pricing on with the installed table: here, where
     * no table is installed, the open says so instead of pricing nothing */
    if (access(lb_installed_prices(), R_OK) != 0) {
        snprintf(ini, sizeof ini, "%s[pricing]\n", head);
        expect_file_error(ini, LLMBILL_ECONFIG, "[pricing] file: not set, and the installed price "
                          "table cannot be read");
    }
}

static void capture_log(void *ud, int level, const char *msg)
{
    (void)ud;
    (void)level;
    strncat(logbuf, msg, sizeof logbuf - strlen(logbuf) - 2);
    strcat(logbuf, "\n");
}

static void instances_and_resolution(void)
{
    llmbill *h;
    struct llmbill_open_opts o;
    struct llmbill_sink_info a, b;
    char ini[2048], path[512], cmd[1024];
    struct llmbill_usage u = t_usage("acme", NULL);
    char *sa, *sb;

    /* two instances of one plugin, each with its own settings */
    snprintf(ini, sizeof ini, "[llmbill]\n" P "callbacks = eu, us\nlinger_ms = 5\n"
             "[eu]\nplugin = testsink\noutput = %s/eu.txt\n"
             "[us]\nplugin = %s/testsink.so\noutput = %s/us.txt\nbatch_size = 7\n",
             dir, TEST_PLUGIN_DIR, dir);
    memset(&o, 0, sizeof o);
    o.struct_size = sizeof o;
    o.errbuf = err;
    o.errbuf_len = sizeof err;
    o.log_cb = capture_log;
    logbuf[0] = '\0';
    CHECK_EQ_INT(llmbill_open_string(&h, ini, &o), 0);
    CHECK_EQ_INT(llmbill_sink_count(h), 2);
    memset(&a, 0, sizeof a);
    a.struct_size = sizeof a;
    b = a;
    CHECK_EQ_INT(llmbill_get_sink_info(h, 0, &a), 0);
    CHECK_EQ_INT(llmbill_get_sink_info(h, 1, &b), 0);
    CHECK(strcmp(a.name, "eu") == 0 && strcmp(a.plugin, "testsink") == 0);
    CHECK(strcmp(b.name, "us") == 0 && strcmp(b.plugin, "testsink") == 0);
    CHECK_EQ_INT(a.batch_max, 100);
    CHECK_EQ_INT(b.batch_max, 7);
    CHECK(strcmp(a.plugin_version, "1.2.3") == 0);
    CHECK_EQ_INT(llmbill_get_sink_info(h, 2, &a), LLMBILL_ENOTFOUND);
    CHECK_EQ_INT(llmbill_record(h, &u), 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    snprintf(path, sizeof path, "%s/eu.txt", dir);
    sa = t_read(path);
    snprintf(path, sizeof path, "%s/us.txt", dir);
    sb = t_read(path);
    CHECK_CONTAINS(sa, "received=1 ");
    CHECK_CONTAINS(sb, "received=1 ");
    free(sa);
    free(sb);

    /* LLMBILL_PLUGIN_PATH, when the config names no plugin_dir */
    setenv("LLMBILL_PLUGIN_PATH", "/nonexistent:" TEST_PLUGIN_DIR, 1);
    CHECK_EQ_INT(t_open(&h, "[llmbill]\ncallbacks = testsink\n", err, sizeof err), 0);
    llmbill_close(h);
    unsetenv("LLMBILL_PLUGIN_PATH");
    CHECK_EQ_INT(t_open(&h, "[llmbill]\ncallbacks = testsink\n", err, sizeof err), LLMBILL_ELOAD);
    CHECK_CONTAINS(err, "not found (searched: ");

    /* plugin_dir relative to the config file, opened from elsewhere */
    snprintf(cmd, sizeof cmd, "mkdir -p %s/conf && ln -sfn %s %s/conf/myplugins", dir,
             TEST_PLUGIN_DIR, dir);
    CHECK_EQ_INT(system(cmd), 0);
    CHECK_EQ_INT(open_file("conf/rel.ini", "[llmbill]\nplugin_dir = myplugins\ncallbacks = testsink\n"
                           "[testsink]\noutput = rel-out.txt\n", &h), 0);
    CHECK_EQ_INT(llmbill_close(h), 0);
    snprintf(path, sizeof path, "%s/conf/rel-out.txt", dir);
    sa = t_read(path);
    CHECK_CONTAINS(sa, "received=0");
    free(sa);
}

/* Is every byte of s printable (no C0 control character, no DEL)? */
static int printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* Control characters from a config file (a terminal escape, a carriage
 * return) reach an error message escaped as \xNN, never raw: in the error
 * buffer and in llmbill_last_error(). */
static void control_characters_are_escaped(void)
{
    static const struct {
        const char *ini, *want;
    } cases[] = {
        /* a bad key, a bad value, a bad section name, a plugin name, a key
         * outside any section, a value that is not a known word */
        { "[llmbill]\n" P "callbacks = testsink\nbo\x1b[2Jgus = 1\n", "bo\\x1b[2Jgus: unknown key" },
        { "[llmbill]\n" P "callbacks = testsink\nqueue_max = 1\x1b]0;x\x07\n", "1\\x1b]0;x\\x07" },
        { "[llmbill]\n" P "callbacks = testsink\n[test\x1b[31msink]\nx = 1\n", "[test\\x1b[31msink]" },
        { "[llmbill]\n" P "callbacks = t\n[t]\nplugin = no\x1b[1Athing\n", "no\\x1b[1Athing" },
        { "ke\x7fy\r\x01 = 1\n[llmbill]\n", "ke\\x7fy" },
        { "[llmbill]\n" P "callbacks = testsink\noverflow = dr\x1b[0mop\r\n", "dr\\x1b[0mop" },
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        llmbill *h;
        int rc = open_file("ctl.ini", cases[i].ini, &h);

        CHECK(rc != 0);
        CHECK(h == NULL);
        if (!printable(err) || !printable(llmbill_last_error()) ||
            strstr(err, cases[i].want) == NULL) {
            fprintf(stderr, "case %zu: err: ", i);
            for (const unsigned char *p = (const unsigned char *)err; *p; p++)
                fprintf(stderr, *p < 0x20 || *p == 0x7f ? "<%02x>" : "%c", *p);
            fprintf(stderr, "\nwanted: %s\n", cases[i].want);
            exit(1);
        }
    }
}

int main(void)
{
    dir = strdup(t_tmpdir());
    unsetenv("LLMBILL_PLUGIN_PATH");
    RUN(syntax_errors);
    RUN(value_errors);
    RUN(env_expansion);
    RUN(loader_errors);
    RUN(abi_1_0_sink_still_loads);
    RUN(secret_key_names);
    RUN(world_writable_refused);
    RUN(create_error_redacts_secrets);
    RUN(instances_and_resolution);
    RUN(sections_fail_closed);
    RUN(control_characters_are_escaped);
    printf("test_config: ok\n");
    return 0;
}
