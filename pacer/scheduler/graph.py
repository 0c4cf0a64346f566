"""The working action graph of one scheduling run: actions and the ordering
edges between them.

`Action` objects are built and mutated inside one run (actions.py creates
them, ordering.py adds edges, propagation.py spreads flags along the edges
until nothing changes); the run returns the required ones frozen in a
`Transition` (transition.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Edge:
    """An ordering edge's flags, combined with `|`. Plain ints, not an IntFlag:
    propagation tests them hundreds of thousands of times per simulated run,
    and every `&` on an IntFlag builds a new enum member."""

    NONE = 0
    OPTIONAL = 1  # pure ordering: only if both actions happen anyway
    IMPLIES_THEN = 2  # first required ⇒ then required
    IMPLIES_FIRST = 4  # then required ⇒ first required
    RUNNABLE_LEFT = 8  # first unrunnable ⇒ then unrunnable
    ASYMMETRICAL = 16  # first unrunnable ⇒ then unrunnable (one-way orders)
    SERIALIZE = 32  # never concurrently
    COUNTED = 64  # first counts toward then's `min_runnable` (clone running/promoted)
    ON_NODE = 128  # IMPLIES_THEN only when an instance on then's node is required
    ONE_OR_MORE = 256  # then unrunnable only when all its ONE_OR_MORE firsts are
    QUIET = 512  # IMPLIES_FIRST without giving first a reason (a constraint's inverse)


@dataclass(eq=False)
class Action:
    uid: int
    task: str
    node: str | None
    rsc: object | None = None  # scheduler.resources.Rsc (kept untyped to avoid a cycle)
    rsc_id: str | None = None
    interval_ms: int = 0
    required: bool = False
    runnable: bool = True
    pseudo: bool = False
    reason: str | None = None
    fence_reason: str | None = None
    # With COUNTED inputs: runnable only while at least this many of them are.
    min_runnable: int = 0
    label: str | None = None  # how a reason names it, when not "<rsc> <task>"
    # The actions that made it required / unrunnable (None: its own need).
    required_by: Action | None = None
    unrunnable_by: Action | None = None
    edges_out: list[tuple[Action, int]] = field(default_factory=list)
    edges_in: list[tuple[Action, int]] = field(default_factory=list)
    # A notify action: its operation key (R:0_pre_notify_start_0) and the
    # notification variables, without the OCF_RESKEY_CRM_meta_ prefix.
    op_key: str | None = None
    notify: dict[str, str] | None = None

    @property
    def key(self) -> str:
        if self.op_key is not None:
            return self.op_key
        if self.task == "stonith":
            return f"stonith-{self.node}-{self.fence_action}"
        if self.rsc_id is None:
            return self.task  # a pseudo action of the graph itself (one-or-more:SET)
        return f"{self.rsc_id}_{self.task}_{self.interval_ms}"

    fence_action: str = "reboot"

    def __repr__(self) -> str:
        flags = ("R" if self.required else "o") + ("" if self.runnable else "!")
        return f"<{self.rsc_id} {self.task} {self.node} {flags}>"


def order(first: Action, then: Action, flags: int) -> None:
    first.edges_out.append((then, flags))
    then.edges_in.append((first, flags))
