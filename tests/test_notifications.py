"""Clone notifications (notify=true): the notify actions, their variables and order.

The CIB: clone C (notify=true) of R on n1, n2, n3; R:0 runs on n1, R:1 and R:2
start on n2 and n3. The expected variables are crm_simulate's (Pacemaker
2.1.5) graph for this CIB, recorded below; when crm_simulate is installed the
test also reads them from its graph (`crm_simulate -x FILE -G graph.xml`).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from pacer.scheduler import schedule
from pacer.status.load import load_snapshot

CIB = Path(__file__).parent / "data" / "notify-start-3nodes.xml"

COMMON = {
    "notify_active_resource": "R:0", "notify_active_uname": "n1",
    "notify_all_uname": "n1 n2 n3", "notify_available_uname": "n1 n2 n3",
    "notify_inactive_resource": "R:1 R:2", "notify_operation": "start",
    "notify_start_resource": "R:1 R:2", "notify_start_uname": "n2 n3",
    **{f"notify_{k}_{w}": " " for k in ("stop", "promote", "demote", "promoted",
                                         "unpromoted", "master", "slave")
       for w in ("resource", "uname")},
}
# Recorded from crm_simulate 2.1.5: (phase, node) of each notify action.
RECORDED = {
    ("pre", "n1"): dict(COMMON, notify_type="pre", notify_key_type="pre",
                        notify_key_operation="start"),
    **{("post", n): dict(COMMON, notify_type="post", notify_key_type="post",
                         notify_key_operation="running") for n in ("n1", "n2", "n3")},
}


def _ours() -> tuple[dict, object]:
    snap = load_snapshot(CIB)
    res = schedule(snap.definition, snap.status, 1000)
    t = res.transition
    got = {}
    for a in t.actions:
        if a.task == "notify":
            got[(a.key.split("_")[1], a.node)] = dict(a.extra)
    return got, t


def _from_crm_simulate(tmp_path: Path) -> dict:
    graph = tmp_path / "graph.xml"
    env = dict(os.environ, LC_ALL="C", CIB_shadow_dir=str(tmp_path))
    subprocess.run(["crm_simulate", "-x", str(CIB), "-G", str(graph)], env=env,
                   capture_output=True, check=False, timeout=60)
    out = {}
    for op in ET.parse(graph).getroot().iter("rsc_op"):
        attrs = op.find("attributes")
        if op.get("operation") != "notify" or attrs is None:
            continue
        phase = op.get("operation_key").split("_notify_")[0].rsplit("_", 1)[1]
        out[(phase, op.get("on_node"))] = {
            k[len("CRM_meta_"):]: v for k, v in attrs.attrib.items()
            if k.startswith("CRM_meta_notify_")}
    return out


def test_variables_match_recorded_crm_simulate():
    got, _ = _ours()
    assert got == RECORDED


@pytest.mark.skipif(shutil.which("crm_simulate") is None, reason="crm_simulate not installed")
def test_variables_match_crm_simulate_graph(tmp_path):
    got, _ = _ours()
    assert got == _from_crm_simulate(tmp_path)


def test_order_pre_notify_op_post_notify():
    _, t = _ours()
    keys = [a.key for a in t.actions]
    succ: dict[int, set[int]] = {}
    for a, b in t.edges:
        succ.setdefault(a, set()).add(b)

    def reaches(x: str, y: str) -> bool:
        src, dst = keys.index(x), keys.index(y)
        seen, todo = set(), [src]
        while todo:
            i = todo.pop()
            if i == dst:
                return True
            if i not in seen:
                seen.add(i)
                todo.extend(succ.get(i, ()))
        return False

    for k in ("C_pre_notify_start_0", "C_confirmed-pre_notify_start_0",
              "C_post_notify_running_0", "C_confirmed-post_notify_running_0"):
        assert k in keys
    pre = [k for k in keys if "_pre_notify_start_0" in k and not k.startswith("C_")]
    post = [k for k in keys if "_post_notify_start_0" in k]
    assert len(pre) == 1 and len(post) == 3
    for s in ("R:1_start_0", "R:2_start_0"):
        assert reaches("C_pre_notify_start_0", pre[0])
        assert reaches(pre[0], "C_confirmed-pre_notify_start_0")
        assert reaches("C_confirmed-pre_notify_start_0", s)
        for p in post:
            assert reaches(s, p)
            assert reaches(p, "C_confirmed-post_notify_running_0")
    lines = t.action_lines
    assert any("notify on n1" in ln for ln in lines)
    # Notify actions never show in the Transition Summary.
    assert not any("notify" in ln for ln in t.summary)
