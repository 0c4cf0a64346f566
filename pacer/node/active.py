"""What this node believes it runs: its own record of what it started.

Self-fencing and a timed-out shutdown stop everything in here, in reverse
order of activation, with the parameters each instance was started with —
neither the definition nor the store may be reachable then. With a state_dir
the record is also kept in `<state_dir>/active.json`, so a daemon that crashed
and was restarted (systemd's KillMode=process leaves the resources running)
stops what its predecessor left behind before it empties the state_dir and
joins again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

from pacer.agents.api import ActionRequest as AgentRequest
from pacer.agents.api import AgentSpec
from pacer.node.rules import Activity, next_activity
from pacer.store.cluster import Agent

ACTIVE_FILE = "active.json"

log = logging.getLogger("pacer.node")


@dataclass(frozen=True)
class ActiveEntry:
    hist_id: str
    agent: Agent
    request: AgentRequest  # the action that made it active (its params and meta)
    stop_timeout_ms: int
    activity: Activity
    seq: int  # activation order

    def stop_request(self, action: str = "stop") -> AgentRequest:
        meta = {k: v for k, v in self.request.meta.items()
                if k not in ("migrate_source", "migrate_target")}
        return dataclasses.replace(self.request, action=action, interval_ms=0,
                                   timeout_ms=self.stop_timeout_ms,
                                   meta=MappingProxyType(meta), notify=MappingProxyType({}))


class ActiveResources:
    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._entries: dict[str, ActiveEntry] = {}
        self._seq = 0
        # Set on every change; a clean shutdown waits on it.
        self.changed = asyncio.Event()
        # The last write of the file failed (a full disk).
        self.save_failing = False

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, hist_id: object) -> bool:
        return hist_id in self._entries

    def get(self, hist_id: str) -> ActiveEntry | None:
        return self._entries.get(hist_id)

    def activity(self, hist_id: str) -> Activity:
        e = self._entries.get(hist_id)
        return e.activity if e else Activity.STOPPED

    def entries(self) -> list[ActiveEntry]:
        return sorted(self._entries.values(), key=lambda e: e.seq)

    def stop_order(self) -> list[ActiveEntry]:
        """Last activated first: a group's members stop in reverse."""
        return sorted(self._entries.values(), key=lambda e: -e.seq)

    def note(self, hist_id: str, agent: Agent, request: AgentRequest, stop_timeout_ms: int,
             task: str, rc: int, op_status: int) -> Activity:
        """Update the belief after `task` ended with (rc, op_status)."""
        old = self._entries.get(hist_id)
        new = next_activity(old.activity if old else Activity.STOPPED, task, rc, op_status)
        self.set(hist_id, agent, request, stop_timeout_ms, new)
        return new

    def set(self, hist_id: str, agent: Agent, request: AgentRequest, stop_timeout_ms: int,
            activity: Activity) -> None:
        old = self._entries.get(hist_id)
        if activity == Activity.STOPPED:
            if old is None:
                return
            del self._entries[hist_id]
        else:
            keep_request = old is not None and request.action in ("stop", "demote", "notify")
            if old is None:
                self._seq += 1
            self._entries[hist_id] = ActiveEntry(
                hist_id, agent if old is None or agent.type else old.agent,
                old.request if keep_request and old else request,
                stop_timeout_ms, activity, old.seq if old else self._seq)
        self._save()
        self.changed.set()

    def clear(self) -> None:
        self._entries.clear()
        self._save()
        self.changed.set()

    # ------------------------------------------------------------- persistence

    def _save(self) -> None:
        """Keep the record on disk too. A write that fails (a full disk) loses
        nothing that matters now: the record in memory is what a self-fence
        stops; the file only tells a restarted daemon what its predecessor
        left, and the probes after its join find anything the file missed. So
        a failure is logged, never raised into the action or monitor that
        changed the record (found by faultsim: a full disk killed every
        recurring monitor)."""
        if self.path is None:
            return
        data = [_entry_to_dict(e) for e in self.entries()]
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            tmp.write_text(json.dumps(data, sort_keys=True))
            tmp.replace(self.path)
        except OSError as exc:
            if not self.save_failing:
                log.error("cannot keep %s up to date (%s): the node goes on from its record "
                          "in memory; a restarted daemon would rely on the probes alone",
                          self.path, exc)
            self.save_failing = True
            return
        if self.save_failing:
            log.info("%s is written again", self.path)
        self.save_failing = False

    @staticmethod
    def load(path: Path) -> list[ActiveEntry]:
        """What an earlier incarnation left running (nothing if unreadable)."""
        try:
            data = json.loads(path.read_text())
            return [_entry_from_dict(d) for d in data]
        except (OSError, ValueError, KeyError, TypeError):
            return []


def _entry_to_dict(e: ActiveEntry) -> dict:
    r = e.request
    return {"hist_id": e.hist_id, "agent": dataclasses.asdict(e.agent),
            "spec": str(r.agent), "rsc_id": r.rsc_id, "action": r.action,
            "instance": r.instance, "params": dict(r.params), "meta": dict(r.meta),
            "timeout_ms": r.timeout_ms, "stop_timeout_ms": e.stop_timeout_ms,
            "activity": int(e.activity), "seq": e.seq}


def _frozen(d: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType({str(k): str(v) for k, v in d.items()})


def _entry_from_dict(d: dict) -> ActiveEntry:
    request = AgentRequest(rsc_id=d["rsc_id"], agent=AgentSpec.parse(d["spec"]),
                           action=d["action"], instance=d["instance"],
                           params=_frozen(d["params"]), meta=_frozen(d["meta"]),
                           timeout_ms=int(d["timeout_ms"]))
    return ActiveEntry(d["hist_id"], Agent(**d["agent"]), request, int(d["stop_timeout_ms"]),
                       Activity(int(d["activity"])), int(d["seq"]))
