/* Runs the kicked virtio workers of a fuzz target on the caller's thread (sync_worker.c). */
#ifndef CORRAL_FUZZ_SYNC_WORKER_H
#define CORRAL_FUZZ_SYNC_WORKER_H

/* One pass of each worker with a kick pending, again while kicks come, at most MAX_PASSES
 * passes in all; returns the passes run. */
unsigned fuzz_workers_run(unsigned max_passes);

/* Wakes every worker, as data arriving on a descriptor it polls would. */
void fuzz_workers_wake(void);

#endif
