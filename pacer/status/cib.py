"""A CIB's `<status>` section: read into a `Status`, written from one — and a
whole CIB (configuration and status) in and out.

The configuration half is the model's (`pacer.model.cib_import` /
`cib_export`); what is true now is read and written here, beside the type it
fills. Exported CIBs are accepted by `crm_simulate -x FILE -S`, which is how
pacer's decisions are checked against Pacemaker.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from pacer.model.cib_export import cib_element
from pacer.model.cib_import import CibDocument, parse_cib, read_definition
from pacer.model.definition import Definition, Primitive, frozen, resource_index
from pacer.status.types import FenceEvent, NodeState, OpRecord, ResourceHistory, Status

_ZERO_UUID = "00000000-0000-0000-0000-000000000000"


def load_cib(source: str | Path, *, filename: str | None = None) -> tuple[Definition, Status]:
    """A CIB from a path or XML text: its configuration and its status."""
    doc = parse_cib(source, filename=filename)
    defn = read_definition(doc)
    return defn, read_status(doc, defn)


def export_cib(defn: Definition, status: Status | None = None) -> str:
    """The definition (and status, if given; else an empty `<status/>`) as CIB XML text."""
    cib = export_cib_element(defn, status)
    ET.indent(cib, "  ")
    return ET.tostring(cib, encoding="unicode") + "\n"


def export_cib_element(defn: Definition, status: Status | None = None) -> ET.Element:
    """The CIB as an ElementTree element (see `export_cib`)."""
    cib = cib_element(defn)
    if status is None:
        return cib
    cib.set("crm_feature_set", status.feature_set)
    cib.set("have-quorum", "1" if status.have_quorum else "0")
    if status.no_quorum_panic:
        cib.set("no-quorum-panic", "1")
    if status.dc is not None:
        dc = defn.node(status.dc)
        cib.set("dc-uuid", (dc.id or dc.name) if dc else status.dc)
    if status.now is not None:
        cib.set("execution-date", str(int(status.now)))
    _write_status(cib.find("status"), defn, status)
    return cib


# --------------------------------------------------------------------------- reading


def _int(v: str | None, default: int = 0) -> int:
    if v is None or v == "":
        return default
    try:
        return int(v)
    except ValueError:
        return default


def _expected_rc(op: ET.Element) -> int | None:
    key = op.get("transition-key") or ""
    parts = key.split(":")
    if len(parts) >= 4:
        try:
            return int(parts[2])
        except ValueError:
            return None
    magic = op.get("transition-magic") or ""
    if ";" in magic:
        return _expected_rc_from(magic.split(";", 1)[1])
    return None


def _expected_rc_from(key: str) -> int | None:
    parts = key.split(":")
    if len(parts) >= 4:
        try:
            return int(parts[2])
        except ValueError:
            return None
    return None


def read_status(doc: CibDocument, defn: Definition) -> Status:
    """The document's `<status>` (and the cib element's quorum, DC, execution
    date) as a Status; node ids are mapped to names by the definition."""
    root = doc.root
    id_to_name = {n.id: n.name for n in defn.nodes}
    states: dict[str, NodeState] = {}
    status_el = root.find("status")
    if status_el is not None:
        for ns in status_el.findall("node_state"):
            name = ns.get("uname") or id_to_name.get(ns.get("id", ""), ns.get("id", ""))
            transient: dict[str, str] = {}
            ta = ns.find("transient_attributes")
            if ta is not None:
                transient = doc.sets(ta, "instance_attributes")
            hist: list[ResourceHistory] = []
            lrm = ns.find("lrm")
            if lrm is not None:
                lrs = lrm.find("lrm_resources")
                for lr in lrs.findall("lrm_resource") if lrs is not None else ():
                    rid = lr.get("id", "")
                    ops = []
                    for op in lr.findall("lrm_rsc_op"):
                        ops.append(
                            OpRecord(
                                rsc=rid,
                                node=name,
                                operation=op.get("operation", ""),
                                interval_ms=_int(op.get("interval")),
                                call_id=_int(op.get("call-id"), -1),
                                rc=_int(op.get("rc-code")),
                                op_status=_int(op.get("op-status")),
                                expected_rc=_expected_rc(op),
                                last_rc_change=_int(op.get("last-rc-change")),
                                last_run=_int(op.get("last-run")),
                                exec_time_ms=_int(op.get("exec-time")),
                                digest=op.get("op-digest"),
                                restart_digest=op.get("op-restart-digest"),
                                force_restart=op.get("op-force-restart"),
                                secure_params=op.get("op-secure-params"),
                                secure_digest=op.get("op-secure-digest"),
                                migrate_source=op.get("migrate_source"),
                                migrate_target=op.get("migrate_target"),
                                id=op.get("id", ""),
                            )
                        )
                    hist.append(
                        ResourceHistory(
                            rsc=rid,
                            node=name,
                            agent_class=lr.get("class", ""),
                            provider=lr.get("provider"),
                            type=lr.get("type", ""),
                            container=lr.get("container"),
                            ops=tuple(ops),
                            shutdown_lock=_int(lr.get("shutdown-lock"), 0) or None,
                        )
                    )
            states[name] = NodeState(
                name=name,
                id=ns.get("id", ""),
                in_ccm=ns.get("in_ccm"),
                crmd=ns.get("crmd"),
                join=ns.get("join"),
                expected=ns.get("expected"),
                transient=frozen(transient),
                history=tuple(hist),
            )
    fences = []
    if status_el is not None:
        for f in status_el.iter("fence_event"):
            fences.append(
                FenceEvent(
                    target=f.get("target", ""),
                    action=f.get("action", ""),
                    state=f.get("state", ""),
                    completed=_int(f.get("completed")),
                    origin=f.get("origin", ""),
                )
            )
    now = None
    exec_date = root.get("execution-date")
    if exec_date:
        now = _int(exec_date, 0) or None
    return Status(
        have_quorum=root.get("have-quorum", "1") in ("1", "true", "yes"),
        no_quorum_panic=root.get("no-quorum-panic", "0") in ("1", "true", "yes"),
        node_states=states,
        now=now,
        dc=id_to_name.get(root.get("dc-uuid", ""), root.get("dc-uuid")),
        feature_set=root.get("crm_feature_set", "0"),
        fencing_history=tuple(fences),
    )


# --------------------------------------------------------------------------- writing


def _write_status(el: ET.Element, defn: Definition, status: Status) -> None:
    node_ids = {n.name: (n.id or n.name) for n in defn.nodes}
    primitives = {r.id: r for r in resource_index(defn.resources).values()
                  if isinstance(r, Primitive)}
    for name, ns in status.node_states.items():
        node_id = ns.id or node_ids.get(name, name)
        state = ET.SubElement(el, "node_state", id=node_id, uname=ns.name or name)
        for attr, value in (("in_ccm", ns.in_ccm), ("crmd", ns.crmd), ("join", ns.join),
                            ("expected", ns.expected)):
            if value is not None:
                state.set(attr, value)
        if ns.transient:
            ta = ET.SubElement(state, "transient_attributes", id=node_id)
            ia = ET.SubElement(ta, "instance_attributes", id=f"status-{node_id}")
            for k, v in ns.transient.items():
                ET.SubElement(ia, "nvpair", id=f"status-{node_id}-{k}", name=k, value=str(v))
        if ns.history:
            lrm = ET.SubElement(state, "lrm", id=node_id)
            lrm_resources = ET.SubElement(lrm, "lrm_resources")
            for h in ns.history:
                p = primitives.get(h.rsc.split(":")[0])
                cls = h.agent_class or (p.agent_class if p else "ocf")
                provider = h.provider if h.agent_class else (p.provider if p else None)
                type_ = h.type or (p.type if p else "")
                if cls == "pacer":
                    cls, provider = "ocf", "pacer"
                rel = ET.SubElement(lrm_resources, "lrm_resource", id=h.rsc, type=type_)
                rel.set("class", cls)
                if provider:
                    rel.set("provider", provider)
                if h.container:
                    rel.set("container", h.container)
                if h.shutdown_lock:
                    rel.set("shutdown-lock", str(h.shutdown_lock))
                used: set[str] = set()
                for op in h.ops:
                    _op_record(rel, op, name, status.feature_set, used)
    if status.tickets:
        tickets = ET.SubElement(el, "tickets")
        for ticket, attrs in status.tickets.items():
            ET.SubElement(tickets, "ticket_state", id=ticket,
                          **{k: str(v) for k, v in attrs.items()})


def _op_record(parent: ET.Element, op: OpRecord, node: str, feature_set: str,
               used: set[str]) -> None:
    op_id = op.id or f"{op.rsc}_{op.operation}_{op.interval_ms}"
    n = 2
    base = op_id
    while op_id in used:
        op_id = f"{base}-{n}"
        n += 1
    used.add(op_id)
    expected = op.expected_rc
    if expected is None:
        expected = 7 if op.operation == "monitor" and op.interval_ms == 0 else 0
    key = f"0:0:{expected}:{_ZERO_UUID}"
    attrs = {
        "id": op_id,
        "operation_key": f"{op.rsc}_{op.operation}_{op.interval_ms}",
        "operation": op.operation,
        "crm-debug-origin": "pacer",
        "crm_feature_set": feature_set,
        "transition-key": key,
        "transition-magic": f"{op.op_status}:{op.rc};{key}",
        "exit-reason": "",
        "on_node": node,
        "call-id": str(op.call_id),
        "rc-code": str(op.rc),
        "op-status": str(op.op_status),
        "interval": str(op.interval_ms),
        "last-rc-change": str(op.last_rc_change),
        "exec-time": str(op.exec_time_ms),
        "queue-time": "0",
    }
    if op.last_run:
        attrs["last-run"] = str(op.last_run)
    for attr, value in (("op-digest", op.digest), ("op-restart-digest", op.restart_digest),
                        ("op-force-restart", op.force_restart),
                        ("migrate_source", op.migrate_source),
                        ("migrate_target", op.migrate_target)):
        if value is not None:
            attrs[attr] = value
    ET.SubElement(parent, "lrm_rsc_op", **attrs)
