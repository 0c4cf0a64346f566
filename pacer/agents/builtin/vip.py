"""`pacer:vip`: an IPv4 address on an interface, announced with gratuitous ARP.

The address is added and removed over netlink (pyroute2), not by running
`ip`. After adding it, start sends one round of gratuitous ARP (a request and
a reply with sender = target = the address, as send_arp does) at once, so
switches and peers learn the new owner before start returns, and the rest of
the `arp_count` rounds from a detached child (its pid file under HA_RSCTMP;
stop kills it). `netns` makes the agent act inside a named network namespace
(tests and operators; a node daemon normally already runs in its own).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import ipaddress
import os
import signal
import socket
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from pacer.agents.builtin.base import (
    BuiltinAgent,
    OcfExit,
    pidfile_alive,
    standard_actions,
    write_pidfile,
)
from pacer.agents.metadata import AgentMetadata, ParameterSpec
from pacer.status.types import (
    OCF_ERR_ARGS,
    OCF_ERR_CONFIGURED,
    OCF_ERR_GENERIC,
    OCF_ERR_INSTALLED,
    OCF_NOT_RUNNING,
    OCF_SUCCESS,
)

if TYPE_CHECKING:
    # Imported where used: pyroute2 takes longer to import than meta-data takes to print.
    from pyroute2 import IPRoute

METADATA = AgentMetadata(
    name="vip", version="1.0", ocf_version="1.1",
    shortdesc="Virtual IPv4 address",
    longdesc=("Adds an IPv4 address with a prefix length to an interface over netlink, "
              "announces it with gratuitous ARP, and monitors that it is present."),
    parameters=(
        ParameterSpec("ip", required=True, unique=True, shortdesc="IPv4 address"),
        ParameterSpec("cidr_netmask", type="integer", default="",
                      shortdesc="Prefix length (default: that of the interface's network "
                                "containing ip, else 32)"),
        ParameterSpec("nic", default="",
                      shortdesc="Interface (default: the one whose network contains ip)"),
        ParameterSpec("arp_count", type="integer", default="5",
                      shortdesc="Rounds of gratuitous ARP sent after start"),
        ParameterSpec("arp_interval", type="integer", default="200",
                      shortdesc="Milliseconds between gratuitous ARP rounds"),
        ParameterSpec("netns", default="",
                      shortdesc="Network namespace (a name under /run/netns) to act in"),
    ),
    actions=standard_actions(validate_timeout_ms=20_000),
)

ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
BROADCAST = b"\xff" * 6
IFF_UP = 0x1


def garp_frames(mac: bytes, ip: ipaddress.IPv4Address) -> list[bytes]:
    """Gratuitous ARP, request and reply forms (peers honour one or the other)."""
    frames = []
    for op, target_mac in ((1, b"\x00" * 6), (2, BROADCAST)):
        eth = BROADCAST + mac + struct.pack("!H", ETH_P_ARP)
        arp = struct.pack("!HHBBH", 1, ETH_P_IP, 6, 4, op)
        arp += mac + ip.packed + target_mac + ip.packed
        frames.append(eth + arp)
    return frames


def send_garp(nic: str, mac: bytes, ip: ipaddress.IPv4Address) -> None:
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ARP)) as s:
        s.bind((nic, ETH_P_ARP))
        for frame in garp_frames(mac, ip):
            s.send(frame)


CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """Move this process into /run/netns/NAME, which must exist.

    Not pyroute2's setns: that creates a missing namespace (O_CREAT by default).
    """
    if not name or "/" in name or name in (".", ".."):
        raise OSError(errno.EINVAL, f"{name!r} is not a namespace name")
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY | os.O_CLOEXEC)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err))
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Placement:
    index: int
    nic: str
    prefix: int
    mac: bytes


class VipAgent(BuiltinAgent):
    METADATA = METADATA

    def __init__(self, environ: Mapping[str, str]) -> None:
        super().__init__(environ)
        netns = self.param("netns")
        if netns:
            try:
                enter_netns(netns)  # this process only; before any socket is opened
            except OSError as exc:
                raise OcfExit(OCF_ERR_INSTALLED, f"network namespace {netns}: "
                              f"{exc.strerror or exc}") from None

    def address(self) -> ipaddress.IPv4Address:
        try:
            return ipaddress.IPv4Address(self.require("ip"))
        except ipaddress.AddressValueError as exc:
            raise OcfExit(OCF_ERR_CONFIGURED, f"ip: {exc}") from None

    def prefix(self) -> int | None:
        text = self.param("cidr_netmask")
        if not text:
            return None
        if not text.isdigit() or not 0 <= int(text) <= 32:
            raise OcfExit(OCF_ERR_CONFIGURED, f"cidr_netmask {text!r} is not 0..32")
        return int(text)

    def placement(self, ipr: IPRoute, ip: ipaddress.IPv4Address) -> Placement:
        nic = self.param("nic")
        prefix = self.prefix()
        if nic:
            found = ipr.link_lookup(ifname=nic)
            if not found:
                raise OcfExit(OCF_ERR_ARGS, f"no interface {nic} on this host")
            index = found[0]
        else:
            index = None
            for msg in ipr.get_addr(family=socket.AF_INET):
                net = ipaddress.IPv4Interface(
                    f"{msg.get_attr('IFA_ADDRESS')}/{msg['prefixlen']}").network
                if ip in net and net.prefixlen < 32:
                    index = msg["index"]
                    prefix = net.prefixlen if prefix is None else prefix
                    break
            if index is None:
                raise OcfExit(OCF_ERR_ARGS, f"no interface has a network containing {ip}; "
                              "set nic")
        link = ipr.get_links(index)[0]
        mac = bytes.fromhex((link.get_attr("IFLA_ADDRESS") or "00:00:00:00:00:00")
                            .replace(":", ""))
        return Placement(index=index, nic=link.get_attr("IFLA_IFNAME"),
                         prefix=32 if prefix is None else prefix, mac=mac)

    @staticmethod
    def present(ipr: IPRoute, ip: ipaddress.IPv4Address) -> list[tuple[int, int]]:
        """(interface index, prefix) of every place the address is configured."""
        return [(m["index"], m["prefixlen"]) for m in ipr.get_addr(family=socket.AF_INET)
                if m.get_attr("IFA_ADDRESS") == str(ip)]

    @property
    def garp_pidfile(self) -> Path:
        return self.state_path("garp.pid")

    def validate(self) -> int:
        from pyroute2 import IPRoute

        ip = self.address()
        with IPRoute() as ipr:
            self.placement(ipr, ip)
        return OCF_SUCCESS

    def monitor(self) -> int:
        from pyroute2 import IPRoute

        ip = self.address()
        self.prefix()
        with IPRoute() as ipr:
            where = self.present(ipr, ip)
            if not where:
                return OCF_NOT_RUNNING
            index = where[0][0]
            link = ipr.get_links(index)[0]
            if not link["flags"] & IFF_UP:
                raise OcfExit(OCF_ERR_GENERIC,
                              f"{ip} is on {link.get_attr('IFLA_IFNAME')}, which is down")
        return OCF_SUCCESS

    def start(self) -> int:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        ip = self.address()
        with IPRoute() as ipr:
            place = self.placement(ipr, ip)
            if (place.index, place.prefix) not in self.present(ipr, ip):
                try:
                    ipr.addr("add", index=place.index, address=str(ip), prefixlen=place.prefix)
                except NetlinkError as exc:
                    raise OcfExit(OCF_ERR_GENERIC, f"adding {ip}/{place.prefix} to "
                                  f"{place.nic}: {exc}") from None
            ipr.link("set", index=place.index, state="up")
        self.announce(place, ip)
        return OCF_SUCCESS

    def announce(self, place: Placement, ip: ipaddress.IPv4Address) -> None:
        count = int(self.param("arp_count") or 0)
        interval = int(self.param("arp_interval") or 200) / 1000
        if count <= 0:
            return
        try:
            send_garp(place.nic, place.mac, ip)
        except OSError as exc:
            raise OcfExit(OCF_ERR_GENERIC, f"gratuitous ARP on {place.nic}: {exc}") from None
        if count > 1:
            self._kill_announcer()
            pid = os.fork()
            if pid == 0:  # the detached announcer: no pipes of the agent's held open
                try:
                    os.setsid()
                    devnull = os.open(os.devnull, os.O_RDWR)
                    for fd in (0, 1, 2):
                        os.dup2(devnull, fd)
                    for _ in range(count - 1):
                        time.sleep(interval)
                        send_garp(place.nic, place.mac, ip)
                finally:
                    os._exit(0)
            write_pidfile(self.garp_pidfile, pid)

    def _kill_announcer(self) -> None:
        pid = pidfile_alive(self.garp_pidfile)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.garp_pidfile.unlink(missing_ok=True)

    def stop(self) -> int:
        from pyroute2 import IPRoute
        from pyroute2.netlink.exceptions import NetlinkError

        ip = self.address()
        self._kill_announcer()
        with IPRoute() as ipr:
            for index, prefix in self.present(ipr, ip):
                try:
                    ipr.addr("del", index=index, address=str(ip), prefixlen=prefix)
                except NetlinkError as exc:
                    raise OcfExit(OCF_ERR_GENERIC, f"removing {ip}: {exc}") from None
        return OCF_SUCCESS
