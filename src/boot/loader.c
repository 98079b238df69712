/* Puts a RISC-V Linux Image, an ELF64 RISC-V executable or a flat binary into guest RAM.
 * The file is untrusted: every header field is bounds-checked before anything is written.
 * Not a relocating loader: ELF segments go where their physical addresses say. */
#include "boot/loader.h"

#include <string.h>

/* Linux Documentation/arch/riscv/boot-image-header.rst: a 64-byte little-endian header. */
#define IMAGE_HDR_SIZE     64
#define IMAGE_TEXT_OFFSET  8
#define IMAGE_SIZE         16
#define IMAGE_FLAGS        24   /* bit 0: kernel endianness, 1 = big-endian */
#define IMAGE_MAGIC        48   /* "RISCV\0\0\0", deprecated since header version 0.2 */
#define IMAGE_MAGIC2       56   /* "RSC\x05" */
#define IMAGE_ALIGN        (2 * MiB)

/* ELF-64 Object File Format and the RISC-V ELF psABI (EM_RISCV = 243). */
#define EHDR_SIZE   64
#define PHDR_SIZE   56
#define EI_CLASS    4
#define EI_DATA     5
#define ELFCLASS64  2
#define ELFDATA2LSB 1
#define ET_EXEC     2
#define ET_DYN      3
#define EM_RISCV    243
#define PT_LOAD     1

struct elf_seg {
    uint64_t offset, filesz, vaddr, paddr, memsz;
};

static uint64_t le(const uint8_t *p, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

bool boot_is_linux_image(const uint8_t *data, size_t len)
{
    if (!data || len < IMAGE_HDR_SIZE)
        return false;
    return memcmp(data + IMAGE_MAGIC2, "RSC\x05", 4) == 0 ||
           memcmp(data + IMAGE_MAGIC, "RISCV\0\0\0", 8) == 0;
}

static bool is_elf(const uint8_t *data, size_t len)
{
    return len >= 4 && memcmp(data, "\x7f" "ELF", 4) == 0;
}

/* Copies len bytes to gpa and zeroes the next zero_len bytes; the caller has checked
 * that the whole range is RAM. */
static void copy_and_zero(struct guest_mem *ram, uint64_t gpa, const uint8_t *src,
                          uint64_t len, uint64_t zero_len)
{
    uint8_t *dst = guest_mem_ptr(ram, gpa, len + zero_len);
    memcpy(dst, src, len);
    memset(dst + len, 0, zero_len);
}

static int load_image(struct guest_mem *ram, const uint8_t *data, size_t len, uint64_t hint,
                      struct boot_image *out)
{
    uint64_t text_offset = le(data + IMAGE_TEXT_OFFSET, 8);
    uint64_t image_size = le(data + IMAGE_SIZE, 8);
    if (le(data + IMAGE_FLAGS, 8) & 1)
        return -ENOEXEC;
    /* image_size 0 comes from headers older than 0.2 that did not fill it in */
    uint64_t reserve = image_size > len ? image_size : len;
    if (hint > UINT64_MAX - IMAGE_ALIGN)
        return -ENOMEM;
    uint64_t base = align_up(hint, IMAGE_ALIGN);
    if (text_offset > UINT64_MAX - base)
        return -EINVAL;
    uint64_t addr = base + text_offset;
    if (!guest_mem_ptr(ram, addr, reserve))
        return -ENOMEM;
    copy_and_zero(ram, addr, data, len, reserve - len);
    *out = (struct boot_image){ BOOT_IMAGE, addr, addr, addr + reserve };
    return 0;
}

static int load_flat(struct guest_mem *ram, const uint8_t *data, size_t len, uint64_t hint,
                     struct boot_image *out)
{
    if (len == 0)
        return -ENOEXEC;
    if (!guest_mem_ptr(ram, hint, len))
        return -ENOMEM;
    copy_and_zero(ram, hint, data, len, 0);
    *out = (struct boot_image){ BOOT_FLAT, hint, hint, hint + len };
    return 0;
}

/* Checks the ELF header and returns where the program headers are. */
static int elf_check_header(const uint8_t *data, size_t len, uint64_t *phoff, unsigned *phnum)
{
    if (len <= EI_DATA)
        return -EINVAL;
    if (data[EI_CLASS] != ELFCLASS64 || data[EI_DATA] != ELFDATA2LSB)
        return -ENOEXEC;
    if (len < EHDR_SIZE)
        return -EINVAL;
    uint64_t type = le(data + 16, 2), machine = le(data + 18, 2);
    if (machine != EM_RISCV || (type != ET_EXEC && type != ET_DYN))
        return -ENOEXEC;
    uint64_t off = le(data + 32, 8), entsize = le(data + 54, 2), num = le(data + 56, 2);
    /* num == 0xffff (PN_XNUM) would move the count into section 0; no loader target
     * needs that many segments, so it is treated like any oversized table. */
    if (entsize != PHDR_SIZE || num == 0 || off > len || num * PHDR_SIZE > len - off)
        return -EINVAL;
    *phoff = off;
    *phnum = (unsigned)num;
    return 0;
}

static struct elf_seg elf_segment(const uint8_t *ph)
{
    return (struct elf_seg){ .offset = le(ph + 8, 8), .vaddr = le(ph + 16, 8),
                             .paddr = le(ph + 24, 8), .filesz = le(ph + 32, 8),
                             .memsz = le(ph + 40, 8) };
}

/* A PT_LOAD segment must lie inside the file and, whole, inside RAM. */
static int elf_check_segment(const struct guest_mem *ram, const struct elf_seg *s, size_t len)
{
    if (s->filesz > s->memsz || s->offset > len || s->filesz > len - s->offset)
        return -EINVAL;
    if (s->memsz > UINT64_MAX - s->paddr)
        return -EINVAL;
    return guest_mem_ptr(ram, s->paddr, s->memsz) ? 0 : -ENOMEM;
}

/* e_entry is usually physical; a kernel vmlinux gives a virtual one, which is moved to
 * the physical address of the segment that holds it. */
static uint64_t elf_entry(const uint8_t *data, uint64_t phoff, unsigned phnum, uint64_t entry)
{
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = data + phoff + (uint64_t)i * PHDR_SIZE;
        struct elf_seg s = elf_segment(ph);
        if (le(ph, 4) == PT_LOAD && entry >= s.paddr && entry - s.paddr < s.memsz)
            return entry;
    }
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = data + phoff + (uint64_t)i * PHDR_SIZE;
        struct elf_seg s = elf_segment(ph);
        if (le(ph, 4) == PT_LOAD && entry >= s.vaddr && entry - s.vaddr < s.memsz)
            return entry - s.vaddr + s.paddr;
    }
    return entry;
}

static int load_elf(struct guest_mem *ram, const uint8_t *data, size_t len,
                    struct boot_image *out)
{
    uint64_t phoff, start = UINT64_MAX, end = 0;
    unsigned phnum;
    int r = elf_check_header(data, len, &phoff, &phnum);
    if (r)
        return r;
    /* check every segment before writing any, so that a bad file leaves RAM untouched */
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = data + phoff + (uint64_t)i * PHDR_SIZE;
        struct elf_seg s = elf_segment(ph);
        if (le(ph, 4) != PT_LOAD || s.memsz == 0)
            continue;
        if ((r = elf_check_segment(ram, &s, len)))
            return r;
        start = s.paddr < start ? s.paddr : start;
        end = s.paddr + s.memsz > end ? s.paddr + s.memsz : end;
    }
    if (start >= end)
        return -EINVAL;
    for (unsigned i = 0; i < phnum; i++) {
        const uint8_t *ph = data + phoff + (uint64_t)i * PHDR_SIZE;
        struct elf_seg s = elf_segment(ph);
        if (le(ph, 4) == PT_LOAD && s.memsz)
            copy_and_zero(ram, s.paddr, data + s.offset, s.filesz, s.memsz - s.filesz);
    }
    *out = (struct boot_image){ BOOT_ELF, elf_entry(data, phoff, phnum, le(data + 24, 8)),
                                start, end };
    return 0;
}

/* A flat binary has no header to check, but some files are surely not one: text (a
 * script, a config file, a typo'd path to a document) and other known executable formats. */
static bool looks_like_other_format(const uint8_t *data, size_t len)
{
    size_t n = len < 512 ? len : 512, printable = 0;
    for (size_t i = 0; i < n; i++)
        if ((data[i] >= 0x20 && data[i] < 0x7f) || data[i] == '\n' || data[i] == '\t' || data[i] == '\r')
            printable++;
    if (n >= 16 && printable == n)
        return true;
    if (len >= 2 && data[0] == 'M' && data[1] == 'Z')
        return true; /* a PE/EFI file without the RISC-V Image header */
    return len >= 4 && (!memcmp(data, "\x7f" "ELF", 4) || !memcmp(data, "\x1f\x8b", 2) ||
                        !memcmp(data, "\xfd" "7zXZ", 4));
}

int boot_load(struct guest_mem *ram, const uint8_t *data, size_t len, uint64_t hint,
              bool allow_flat, struct boot_image *out)
{
    if (!ram || !out || (!data && len))
        return -EINVAL;
    if (is_elf(data, len))
        return load_elf(ram, data, len, out);
    if (boot_is_linux_image(data, len))
        return load_image(ram, data, len, hint, out);
    if (!allow_flat || looks_like_other_format(data, len))
        return -ENOEXEC;
    return load_flat(ram, data, len, hint, out);
}

int boot_place(struct guest_mem *ram, uint64_t gpa, const void *data, size_t len)
{
    if (!ram || (!data && len))
        return -EINVAL;
    void *dst = guest_mem_ptr(ram, gpa, len);
    if (!dst)
        return -ENOMEM;
    if (len)
        memcpy(dst, data, len);
    return 0;
}
