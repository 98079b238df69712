/* libFuzzer target for the VM description's JSON (config files and API bodies): any bytes
 * are parsed as JSON and, when they are, taken as a whole description and as each API
 * piece. Whatever is accepted must turn back into JSON that is accepted again the same way.
 * Build and run with tools/fuzz fuzz_spec SECONDS. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hosted/spec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void round_trip(const struct vm_spec *s)
{
    json_t *j = spec_to_json(s);
    struct vm_spec again;
    spec_init(&again);
    char err[512];
    if (spec_from_json(&again, j, err, sizeof(err)))
        abort(); /* what was accepted must be accepted again */
    json_t *j2 = spec_to_json(&again);
    if (!json_equal(j, j2))
        abort();
    json_decref(j);
    json_decref(j2);
    spec_free(&again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
    if (!j)
        return 0;
    struct vm_spec s;
    spec_init(&s);
    char err[512];
    if (!spec_from_json(&s, j, err, sizeof(err))) {
        round_trip(&s);
        char *cmd = spec_cmdline(&s);
        free(cmd);
    }
    spec_free(&s);
    spec_init(&s);
    spec_set_boot(&s, j, err, sizeof(err));
    spec_set_machine(&s, j, size & 1, err, sizeof(err));
    spec_set_drive(&s, NULL, j, err, sizeof(err));
    spec_set_net(&s, NULL, j, err, sizeof(err));
    spec_set_balloon(&s, j, err, sizeof(err));
    round_trip(&s);
    spec_free(&s);
    json_decref(j);
    return 0;
}
