"""Boot the stock Debian kernel + busybox initramfs with the built-in SBI on 2 harts;
init runs the shared workload and powers off."""
import sys
import guest

corral = sys.argv[1]
a = guest.assets()
d = guest.workdir()
initrd = guest.autorun_initrd(a["CORRAL_INITRD"], guest.WORKLOAD, d)
r = guest.run([corral, "run", "--kernel", a["CORRAL_KERNEL"], "--initrd", initrd,
               "--mem", "512M", "--smp", "2", "--append", "console=ttyS0 quiet"], timeout=300)
guest.check_workload(r, cpus=2)
guest.finish()
