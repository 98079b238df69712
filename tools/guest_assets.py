"""The guest assets of tools/fetch-assets as a dict (CORRAL_KERNEL, CORRAL_INITRD, ...), for the
benchmark tools. Not a fetcher: it runs tools/fetch-assets, which downloads only what its cache
lacks, and reads the assets.env that it names."""
import os
import subprocess
import sys

TOOLS = os.path.dirname(os.path.abspath(__file__))


def load(tool):
    """The assets' paths by name; on failure, exits naming the calling tool."""
    r = subprocess.run([os.path.join(TOOLS, "fetch-assets")], stdout=subprocess.PIPE, text=True)
    if r.returncode:
        sys.exit("%s: tools/fetch-assets failed" % tool)
    env = {}
    for line in open(r.stdout.strip()):
        if "=" in line:
            k, v = line.rstrip("\n").split("=", 1)
            env[k] = v
    return env
