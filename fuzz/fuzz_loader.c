/* libFuzzer target for what a user hands the loader: a kernel (Linux Image, ELF or flat),
 * firmware, an initrd, a --dtb blob and the kernel command line, each cut from the input
 * after an 8-byte header of flags and lengths. The kernel is loaded alone into a RAM of
 * exactly its size (so that ASan sees a step past it) and must land inside it; then the
 * whole set goes through board_load as a VM's start does, the device tree checked or built
 * with the command line. Build and run with tools/fuzz fuzz_loader SECONDS. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "boot/loader.h"
#include "machine/board.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_BASE 0x80000000ULL
#define HDR 8

static uint16_t le16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }

/* Cuts the next LEN bytes (fewer if the input ends) off *p. */
static const uint8_t *take(const uint8_t **p, const uint8_t *end, size_t want, size_t *len)
{
    size_t have = (size_t)(end - *p);
    *len = want < have ? want : have;
    const uint8_t *at = *p;
    *p += *len;
    return at;
}

static void load_alone(const uint8_t *k, size_t len, uint64_t ram_size, bool flat)
{
    struct guest_mem ram = { calloc(1, ram_size), RAM_BASE, ram_size, NULL };
    if (!ram.host)
        return;
    struct boot_image img;
    uint64_t hint = RAM_BASE + (boot_is_linux_image(k, len) ? 0 : 2 * MiB);
    if (boot_load(&ram, k, len, hint, flat, &img) == 0) {
        if (img.start < RAM_BASE || img.end > RAM_BASE + ram_size || img.start > img.end)
            __builtin_trap(); /* said it loaded outside RAM */
    }
    free(ram.host);
}

static long discard(void *ctx, const uint8_t *buf, size_t len)
{
    (void)ctx;
    (void)buf;
    return (long)len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < HDR)
        return 0;
    uint8_t flags = data[0];
    /* 2..9 MiB, sometimes not a whole number of 2 MiB pages */
    uint64_t ram_size = (2 + (flags >> 4 & 7)) * MiB - (flags & 0x8 ? 64 * 1024 : 0);
    const uint8_t *p = data + HDR, *end = data + size;
    size_t args_len, fw_len, dtb_len, initrd_len;
    const uint8_t *args = take(&p, end, data[7], &args_len);
    const uint8_t *fw = take(&p, end, flags & 1 ? le16(data + 1) * 4u : 0, &fw_len);
    const uint8_t *dtb = take(&p, end, flags & 4 ? le16(data + 3) * 2u : 0, &dtb_len);
    const uint8_t *initrd = take(&p, end, flags & 2 ? le16(data + 5) * 16u : 0, &initrd_len);
    size_t kernel_len = (size_t)(end - p);
    /* each part in an allocation of its own size, as the VM maps the user's files */
    uint8_t *kernel = malloc(kernel_len ? kernel_len : 1);
    char *bootargs = malloc(args_len + 1);
    uint8_t *fw_copy = fw_len ? malloc(fw_len) : NULL, *dtb_copy = dtb_len ? malloc(dtb_len) : NULL;
    if (!kernel || !bootargs || (fw_len && !fw_copy) || (dtb_len && !dtb_copy))
        abort();
    memcpy(kernel, p, kernel_len);
    memcpy(bootargs, args, args_len);
    bootargs[args_len] = 0;
    if (fw_len)
        memcpy(fw_copy, fw, fw_len);
    if (dtb_len)
        memcpy(dtb_copy, dtb, dtb_len);

    load_alone(kernel, kernel_len, ram_size, flags & 1);

    struct board_config cfg = {
        .ram_size = ram_size, .num_harts = flags & 0x80 ? 2 : 1, .bootargs = bootargs,
        .kernel = kernel, .kernel_len = kernel_len,
        .firmware = fw_copy, .firmware_len = fw_len,
        .initrd = initrd_len ? initrd : NULL, .initrd_len = initrd_len,
        .dtb = dtb_copy, .dtb_len = dtb_len,
        .console = { discard, NULL },
    };
    struct board *b;
    char err[256];
    int rc = board_create(&b, &cfg, err, sizeof(err));
    if (rc == 0) {
        rc = board_load(b, err, sizeof(err));
        board_destroy(b);
    }
    if (getenv("FUZZ_TRACE")) /* say how the input ended */
        fprintf(stderr, "board: %d %s\n", rc, rc ? err : "loaded");
    free(kernel);
    free(bootargs);
    free(fw_copy);
    free(dtb_copy);
    return 0;
}
