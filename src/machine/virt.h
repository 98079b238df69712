/* The memory map and interrupt numbers of the virt board, the same as QEMU's
 * `-M virt`, so that stock kernels and firmware work unchanged. */
#ifndef CORRAL_MACHINE_VIRT_H
#define CORRAL_MACHINE_VIRT_H

#define VIRT_MROM_BASE    0x00001000ULL
#define VIRT_MROM_SIZE    0x0000f000ULL
#define VIRT_TEST_BASE    0x00100000ULL  /* sifive,test0: poweroff and reboot */
#define VIRT_TEST_SIZE    0x00001000ULL
#define VIRT_RTC_BASE     0x00101000ULL  /* google,goldfish-rtc */
#define VIRT_RTC_SIZE     0x00001000ULL
#define VIRT_CLINT_BASE   0x02000000ULL  /* ACLINT MSWI + MTIMER, CLINT layout */
#define VIRT_CLINT_SIZE   0x00010000ULL
#define VIRT_PLIC_BASE    0x0c000000ULL
#define VIRT_PLIC_SIZE    0x00600000ULL
#define VIRT_UART0_BASE   0x10000000ULL
#define VIRT_UART0_SIZE   0x00000100ULL
#define VIRT_VIRTIO_BASE  0x10001000ULL  /* slot i at BASE + i * STRIDE */
#define VIRT_VIRTIO_STRIDE 0x00001000ULL
#define VIRT_VIRTIO_SLOTS 8
#define VIRT_DRAM_BASE    0x80000000ULL

#define VIRT_UART0_IRQ    10
#define VIRT_RTC_IRQ      11
#define VIRT_VIRTIO_IRQ   1   /* slot i uses VIRT_VIRTIO_IRQ + i */
#define VIRT_PLIC_SOURCES 96  /* riscv,ndev = 95 */

#define VIRT_TIMEBASE_HZ  10000000ULL
#define VIRT_MAX_HARTS    8

/* PLIC context numbering: hart h has context 2h for M-mode and 2h+1 for S-mode. */
#define VIRT_PLIC_CTX_M(h) (2 * (h))
#define VIRT_PLIC_CTX_S(h) (2 * (h) + 1)

#endif
