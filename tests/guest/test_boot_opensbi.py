"""Boot the stock Debian kernel + busybox initramfs under Debian OpenSBI (fw_dynamic) in M-mode;
init runs the shared workload and powers off."""
import sys
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], guest.WORKLOAD, d)
r = guest.run([corral, "run", "--bios", a["CORRAL_FW_DYNAMIC"], "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd,
               "--mem", "512M", "--append", "console=ttyS0 quiet"], timeout=300)
guest.check_workload(r, cpus=1)
guest.finish()
