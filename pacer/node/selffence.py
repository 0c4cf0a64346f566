"""Stopping everything the node believes it runs, without the store.

Used when the self-fence deadline passes, when a clean shutdown's wait runs
out, and at boot for what a crashed predecessor left running. Stops run one
at a time, last activated first (a group's members in reverse order, so an
application stops before the address or filesystem it uses), a promoted
instance is demoted first, and each run is bounded by its stop timeout.
After a stop fails, nothing more is stopped: what started before the failed
instance may be what it needs (its address, its database), and stopping that
under a running service breaks the mandatory order the cluster promised
(found by faultsim, seed 1152); the host is left to its watchdog or a fence
device, which stop everything at once. Nothing is recorded: the store may be unreachable, and a re-joining node's
history is cleared anyway.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from pacer.agents.api import AgentRunner
from pacer.node.active import ActiveEntry, ActiveResources
from pacer.node.rules import Activity
from pacer.status.types import OCF_SUCCESS, OP_DONE


async def stop_entry(entry: ActiveEntry, runner: AgentRunner,
                     log: logging.LoggerAdapter) -> bool:
    """Stop one instance (demoting it first if promoted); True if it stopped."""
    try:
        if entry.activity == Activity.PROMOTED:
            r = await runner.run(entry.stop_request("demote"))
            if r.rc != OCF_SUCCESS:
                log.warning("self-stop: demote of %s returned rc %d (%s); stopping anyway",
                            entry.hist_id, r.rc, r.exit_reason or r.rc_name)
        result = await runner.run(entry.stop_request())
    except Exception:  # a runner bug must not keep the others running
        log.exception("self-stop: stopping %s raised", entry.hist_id)
        return False
    if result.rc == OCF_SUCCESS and result.op_status == OP_DONE:
        log.warning("self-stop: stopped %s", entry.hist_id)
        return True
    log.critical("self-stop: stop of %s FAILED: rc %d status %d (%s); it may still run",
                 entry.hist_id, result.rc, result.op_status, result.exit_reason or result.rc_name)
    return False


async def stop_entries(entries: Iterable[ActiveEntry], runner: AgentRunner,
                       log: logging.LoggerAdapter) -> list[str]:
    """Stop each in the order given until one fails; returns the history ids
    that did not stop (the failed one and those not tried)."""
    entries = list(entries)
    for i, entry in enumerate(entries):
        if not await stop_entry(entry, runner, log):
            return _left(entries[i:], log)
    return []


def _left(entries: list[ActiveEntry], log: logging.LoggerAdapter) -> list[str]:
    ids = [e.hist_id for e in entries]
    if len(ids) > 1:
        log.critical("self-stop: not stopping %s: they may be what %s needs",
                     ", ".join(ids[1:]), ids[0])
    return ids


async def stop_everything(active: ActiveResources, runner: AgentRunner,
                          log: logging.LoggerAdapter) -> list[str]:
    """Stop all that `active` holds; what stopped leaves it. Returns the failures."""
    order = active.stop_order()
    for i, entry in enumerate(order):
        if not await stop_entry(entry, runner, log):
            return _left(order[i:], log)
        active.set(entry.hist_id, entry.agent, entry.request, entry.stop_timeout_ms,
                   Activity.STOPPED)
    return []
