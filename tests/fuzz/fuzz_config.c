/* libFuzzer target: the INI model and ${ENV} expansion. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[256];
    struct lb_config *cfg = NULL;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    if (lb_config_load_string(text, &cfg, err, sizeof err) == 0) {
        for (size_t i = 0; i < cfg->n; i++) {
            for (size_t k = 0; k < cfg->sections[i].n; k++) {
                char *v = NULL;

                if (lb_expand_env(cfg->sections[i].entries[k].value, &v, err, sizeof err) == 0)
                    free(v);
                (void)lb_key_looks_secret(cfg->sections[i].entries[k].key);
            }
        }
        lb_config_free(cfg);
    }
    free(text);
    return 0;
}
