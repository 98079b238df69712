/* The bookkeeping of a VM process in its folder: the definition, pid.json (who runs it),
 * exit.json (how it ended), written atomically so that `ls` never reads half a file. */
#ifndef CORRAL_HOSTED_PROC_H
#define CORRAL_HOSTED_PROC_H

#include <jansson.h>
#include <sys/types.h>

#include "hosted/vmm.h"

/* Writes J to PATH through a temporary file and rename. Steals J. */
int proc_write_json(const char *path, json_t *j);
/* pid.json for process PID. */
int proc_write_pid(const char *dir, pid_t pid);
/* exit.json from a wait status (or, with wstatus < 0, an exit code of -wstatus - 1). */
int proc_write_exit(const char *dir, int wstatus);
/* `run --name`: makes or takes the VM's folder (refusing one whose VM runs), stores the
 * definition and pid, and opens the API socket there. */
int proc_claim_dir(const char *name, struct vmm *m, char *err, size_t errlen);
void proc_release_dir(struct vmm *m, int status);
/* Reads NAME's definition into s; a one-line reason when there is no such VM. */
int proc_load_definition(const char *name, char *dir, size_t dirlen, struct vm_spec *s,
                         char *err, size_t errlen);

/* For a verb: NAME's folder and what its process is doing; on error (no such VM, a bad
 * definition) prints the one-line reason and returns -1. */
struct home_proc;
int proc_find(const char *name, char *dir, size_t dirlen, struct home_proc *p);

#endif
