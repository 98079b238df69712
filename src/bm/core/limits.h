/* The sizes of the hypervisor's fixed tables (no allocation after boot). Safe in assembly. */
#ifndef CORRAL_BM_LIMITS_H
#define CORRAL_BM_LIMITS_H
#define MAX_HARTS   8
#define MAX_VIRTIO  16
#define MAX_VMS     8
#define MAX_VCPUS   8
#endif
