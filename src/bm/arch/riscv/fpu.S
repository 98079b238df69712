/* Saving and restoring a guest's floating-point registers when its hart goes to another
 * vCPU. Assembled with D (see the Makefile): the rest of the image has no FP instructions,
 * so a guest's f registers are otherwise left alone in the hart. */
    .text
    .globl  fpu_save
fpu_save:                        /* (uint64_t fpr[32], uint64_t *fcsr) */
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fsd     f\r, (\r * 8)(a0)
    .endr
    frcsr   t0
    sd      t0, 0(a1)
    ret

    .globl  fpu_restore
fpu_restore:                     /* (const uint64_t fpr[32], const uint64_t *fcsr) */
    .irp r, 0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31
    fld     f\r, (\r * 8)(a0)
    .endr
    ld      t0, 0(a1)
    fscsr   t0
    ret
