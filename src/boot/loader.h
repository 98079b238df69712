/* Puts a kernel or firmware into guest RAM: a RISC-V Linux Image (its header gives the
 * offset and size), an ELF64 RISC-V executable, or a flat binary. Input is untrusted. */
#ifndef CORRAL_BOOT_LOADER_H
#define CORRAL_BOOT_LOADER_H

#include "corral/guest_mem.h"

enum boot_format { BOOT_IMAGE = 1, BOOT_ELF, BOOT_FLAT };

struct boot_image {
    enum boot_format format;
    uint64_t entry;       /* guest physical entry point */
    uint64_t start, end;  /* guest physical range written (end exclusive) */
};

/* Loads data (len bytes, a whole file) into ram. For an Image, the image goes at
 * align_up(hint, 2 MiB) + text_offset (hint is normally RAM base + 2 MiB); for a flat
 * binary at hint; an ELF goes where its PT_LOAD headers say (physical addresses).
 * Returns 0, -ENOEXEC for a file that is not RISC-V 64-bit (an ELF of another machine,
 * an Image without the RISC-V magic is still accepted only as BOOT_FLAT if allow_flat),
 * -ENOMEM if it does not fit in RAM, -EINVAL for a malformed header. */
int boot_load(struct guest_mem *ram, const uint8_t *data, size_t len, uint64_t hint,
              bool allow_flat, struct boot_image *out);

/* True if data starts with a RISC-V Linux Image header (magic "RSC\x05" at 56). */
bool boot_is_linux_image(const uint8_t *data, size_t len);

/* Places a blob (initrd or DTB) at gpa in RAM; -ENOMEM if it does not fit. */
int boot_place(struct guest_mem *ram, uint64_t gpa, const void *data, size_t len);

#endif
