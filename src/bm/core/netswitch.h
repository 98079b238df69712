/* The hypervisor's virtual Ethernet switches (core/netswitch.c): the network backend API of
 * backend/net.h for the guests' virtio-net models. */
#ifndef CORRAL_BM_NETSWITCH_H
#define CORRAL_BM_NETSWITCH_H

/* Delivers the frames that sends queued, into the receivers' buffers. Called where the hart
 * holds no device lock: after a guest's trap is handled. */
void netswitch_flush(void);
/* The machine's own NIC as a port of the switch that /chosen's corral,uplink names, if it
 * names one and the machine has a virtio-net device; prints what it did. After the VMs are
 * built and console input is set up (the NIC's interrupt goes to the input hart). */
void netswitch_uplink_init(void);

#endif
