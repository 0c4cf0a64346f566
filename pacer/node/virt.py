"""Whether this node is a virtual machine (for the watchdog's claim).

A VM's watchdog is emulated by its hypervisor (i6300esb, ib700) and counts
the guest's time: while the hypervisor pauses the VM (a live migration, a
snapshot, an operator's `virsh suspend`), it stops with the guest's clock
and its processes. A controller that waited for it would count a paused VM
as fenced, and the VM would resume running everything that was started
elsewhere meanwhile (found by faultsim: a paused VM with a failing fence
device). So a VM's node does not claim its watchdog for fencing unless the
operator says its hypervisor never pauses it; VMs are fenced by a device
(fence_virsh, fence_xvm, a cloud's API) that acts from outside the guest.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


def running_in_vm() -> bool:
    """systemd-detect-virt --vm where there is one; else the CPU's hypervisor flag."""
    tool = shutil.which("systemd-detect-virt")
    if tool is not None:
        try:
            r = subprocess.run([tool, "--vm", "--quiet"], timeout=5, check=False)
            return r.returncode == 0
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return "hypervisor" in line.split()
    except OSError:
        pass
    return False
