"""IPaddr2 and pacer:vip, only ever inside a network namespace each test creates.

Nothing here touches the host's interfaces or sends a frame outside the
test's own namespace (a veth pair pv0 - pv1 in it).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from agents_fixtures import act, netns, node_env, ns_addresses, require_agents

from pacer.agents.registry import AgentRegistry

# Runs inside the namespace: waits for a gratuitous ARP for argv[2] on argv[1].
LISTENER = r"""
import socket, struct, sys
nic, ip = sys.argv[1], socket.inet_aton(sys.argv[2])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((nic, 0x0806))
s.settimeout(20)
print("ready", flush=True)
seen = set()
while len(seen) < 2:
    frame = s.recv(2048)
    op = struct.unpack("!H", frame[20:22])[0]
    if frame[28:32] == ip and frame[38:42] == ip:
        seen.add(op)
print("garp", sorted(seen), frame[:6].hex(), flush=True)
"""


@pytest.fixture
def ns() -> str:
    with netns() as name:
        yield name


@require_agents("ocf:heartbeat:IPaddr2")
def test_ipaddr2_in_a_namespace(ns: str, tmp_path: Path) -> None:
    reg = AgentRegistry(node_env(tmp_path))
    params = {"ip": "10.254.7.100", "cidr_netmask": "24", "network_namespace": ns}
    spec = "ocf:heartbeat:IPaddr2"
    assert act(reg, spec, "validate-all", "vip1", params=params).rc == 0
    assert act(reg, spec, "monitor", "vip1", params=params).rc == 7
    assert act(reg, spec, "start", "vip1", params=params).rc == 0
    assert "10.254.7.100/24" in ns_addresses(ns)
    assert act(reg, spec, "monitor", "vip1", params=params, interval_ms=10_000).rc == 0
    assert act(reg, spec, "stop", "vip1", params=params).rc == 0
    assert "10.254.7.100" not in ns_addresses(ns)
    assert act(reg, spec, "monitor", "vip1", params=params).rc == 7
    assert act(reg, spec, "stop", "vip1", params=params).rc == 0
    empty = act(reg, spec, "start", "vip1", params={"ip": "", "network_namespace": ns})
    assert empty.rc == 6 and "mandatory" in empty.exit_reason


def test_pacer_vip_in_a_namespace(ns: str, tmp_path: Path) -> None:
    reg = AgentRegistry(node_env(tmp_path))
    params = {"ip": "10.254.7.50", "netns": ns, "arp_count": "3", "arp_interval": "50"}
    spec = "pacer:vip"
    assert act(reg, spec, "validate-all", "vip", params=params).rc == 0
    assert act(reg, spec, "monitor", "vip", params=params).rc == 7
    listener = subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", LISTENER, "pv1", "10.254.7.50"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout is not None and listener.stdout.readline().strip() == "ready"
        start = act(reg, spec, "start", "vip", params=params)
        assert start.rc == 0, start
        out, err = listener.communicate(timeout=30)
    finally:
        listener.kill()
        listener.wait()
    # Both gratuitous ARP forms (request 1, reply 2), broadcast, seen on the peer.
    assert out.strip() == "garp [1, 2] ffffffffffff", err
    # The prefix came from pv0's network, the interface was found by its address.
    assert "pv0    inet 10.254.7.50/24" in ns_addresses(ns)
    assert act(reg, spec, "start", "vip", params=params).rc == 0  # already there
    assert act(reg, spec, "monitor", "vip", params=params, interval_ms=10_000).rc == 0
    assert act(reg, spec, "stop", "vip", params=params).rc == 0
    assert "10.254.7.50" not in ns_addresses(ns)
    assert act(reg, spec, "monitor", "vip", params=params).rc == 7
    assert act(reg, spec, "stop", "vip", params=params).rc == 0


def test_pacer_vip_explicit_nic_and_prefix(ns: str, tmp_path: Path) -> None:
    reg = AgentRegistry(node_env(tmp_path))
    params = {"ip": "192.0.2.10", "cidr_netmask": "28", "nic": "pv1", "netns": ns,
              "arp_count": "0"}
    assert act(reg, "pacer:vip", "start", "v2", params=params).rc == 0
    assert "pv1    inet 192.0.2.10/28" in ns_addresses(ns)
    assert act(reg, "pacer:vip", "stop", "v2", params=params).rc == 0
    assert "192.0.2.10" not in ns_addresses(ns)


def test_pacer_vip_bad_parameters(ns: str, tmp_path: Path) -> None:
    reg = AgentRegistry(node_env(tmp_path))
    no_nic = act(reg, "pacer:vip", "start", "v", params={"ip": "10.254.7.60", "nic": "nope",
                                                         "netns": ns})
    assert no_nic.rc == 2 and "no interface nope" in no_nic.exit_reason
    unroutable = act(reg, "pacer:vip", "start", "v", params={"ip": "10.99.0.5", "netns": ns})
    assert unroutable.rc == 2 and "set nic" in unroutable.exit_reason
    bad_ip = act(reg, "pacer:vip", "validate-all", "v", params={"ip": "10.254.7.300",
                                                                "netns": ns})
    assert bad_ip.rc == 6
    missing = act(reg, "pacer:vip", "start", "v", params={"netns": ns})
    assert missing.rc == 6 and "ip is required" in missing.exit_reason
    bad_ns = act(reg, "pacer:vip", "monitor", "v", params={"ip": "10.0.0.1",
                                                           "netns": "pacer-no-such-ns"})
    assert bad_ns.rc == 5
