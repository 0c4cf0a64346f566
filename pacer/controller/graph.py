"""Executing a transition's DAG: which action may go next (pure state machine).

An action is *ready* when every action ordered before it has completed as
expected. Pseudo actions (a group's or clone's running/stopped ...) complete
as soon as they are ready; unrunnable actions never run and order nothing
(the scheduler has made unrunnable what must not run without them); an
unconfirmed fence holds back what follows it. A result that is not the
expected one, or anything else that changes the cluster, *aborts* the run:
nothing new is sent, what is in flight is awaited, and the controller
schedules again from the new state.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from pacer.scheduler import PlannedAction, Transition


class State(Enum):
    WAITING = "waiting"
    SENT = "sent"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # unrunnable, or after a fence not yet confirmed


@dataclass
class TransitionRun:
    transition: Transition
    states: list[State] = field(default_factory=list)
    preds: list[list[int]] = field(default_factory=list)
    aborted: str | None = None  # why
    # Fencing still pending: the stonith actions, and everything ordered after
    # them, wait for a later transition; the rest may go ahead.
    fencing_pending: bool = False
    # Indexes of actions held back (their resource is tied to an operation in
    # flight): they, and everything ordered after them, wait too.
    held: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        n = len(self.transition.actions)
        acts = self.transition.actions
        # An unrunnable action is not in the graph, nor are its edges (as in
        # Pacemaker's graph): whether what follows it may happen anyway is the
        # scheduler's decision, made into the follower's runnable flag. Keeping
        # those edges held a VIP's move back behind the clone's `running`
        # pseudo action, which a failed instance's unrunnable start fed (lab:
        # a second transition, +0.05 s, where crm_simulate starts it at once).
        self.states = [State.WAITING if a.runnable else State.SKIPPED for a in acts]
        self.preds = [[] for _ in range(n)]
        for before, after in self.transition.edges:
            if acts[before].runnable:
                self.preds[after].append(before)
        if self.fencing_pending or self.held:
            # The fence is not confirmed, or an operation the actions depend
            # on is in flight: they, and what must follow them, wait for a
            # later run.
            for i, a in enumerate(acts):
                if (self.fencing_pending and a.task == "stonith") or i in self.held:
                    self.states[i] = State.SKIPPED
            changed = True
            while changed:
                changed = False
                for i in range(n):
                    if self.states[i] is not State.SKIPPED and any(
                            self.states[p] is State.SKIPPED for p in self.preds[i]):
                        self.states[i] = State.SKIPPED
                        changed = True

    @property
    def actions(self) -> tuple[PlannedAction, ...]:
        return self.transition.actions

    def abort(self, reason: str) -> None:
        if self.aborted is None:
            self.aborted = reason

    def ready(self) -> list[int]:
        """Actions to start now; pseudo actions are completed on the way."""
        if self.aborted is not None:
            return []
        out: list[int] = []
        progress = True
        while progress:
            progress = False
            for i, a in enumerate(self.transition.actions):
                if self.states[i] is not State.WAITING:
                    continue
                if not all(self.states[p] is State.DONE for p in self.preds[i]):
                    continue
                if a.pseudo or a.task == "stonith":
                    # Fencing is done before a run starts; a stonith action still
                    # here was confirmed then (its pseudo stops follow it).
                    self.states[i] = State.DONE
                    progress = True
                else:
                    self.states[i] = State.SENT
                    out.append(i)
        return out

    def complete(self, i: int, ok: bool) -> None:
        self.states[i] = State.DONE if ok else State.FAILED
        if not ok:
            a = self.transition.actions[i]
            self.abort(f"{a.key} on {a.node} did not give the expected result")

    @property
    def in_flight(self) -> list[int]:
        return [i for i, s in enumerate(self.states) if s is State.SENT]

    @property
    def finished(self) -> bool:
        """Nothing in flight and nothing more will be sent."""
        if self.in_flight:
            return False
        if self.aborted is not None:
            return True
        return not any(s is State.WAITING for s in self.states)

    @property
    def real_actions(self) -> list[int]:
        """Actions a node must run (not pseudo, not fencing, runnable)."""
        return [i for i, a in enumerate(self.transition.actions)
                if not a.pseudo and a.task != "stonith" and self.states[i] is not State.SKIPPED]
