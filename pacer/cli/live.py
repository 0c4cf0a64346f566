"""What every command on a live cluster shares: how to reach etcd, and how to fail.

Every live command (`pacer status`, `pacer resource`, `pacer node`, `pacer
history`, `pacer config push|show|edit`, and the crm_* shims through
`pacer/store/client.py`) reaches the cluster the same way: etcd
endpoints, a cluster name (the key prefix `/pacer/<cluster>/`) and optional
TLS files, from options or from the environment the node daemon gives agents:

    option        environment        default
    --endpoints   PACER_ENDPOINTS    http://127.0.0.1:2379
    --cluster     PACER_CLUSTER      default
    --ca          PACER_ETCD_CA      (none)
    --cert        PACER_ETCD_CERT    (none)
    --key         PACER_ETCD_KEY     (none)
    --etcd-timeout PACER_ETCD_TIMEOUT 5 (seconds; the variable is read by the shims)

Exit codes of live commands: 0 done; 1 the command failed (etcd unreachable,
invalid input, unknown resource or node, a timeout); 2 a usage error.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable

from pacer.model.edits import Edit, EditError, EditResult, apply_edit
from pacer.store.client import (
    DEFAULT_CLUSTER,
    DEFAULT_ENDPOINTS,
    BadConnection,
    Connection,
    make_connection,
    run_client,
)
from pacer.store.client import unreachable_message as unreachable_message  # (pacer agent's)
from pacer.store.cluster import ClusterStore, DefinitionConflict, Snapshot

CONNECTION_HELP = """\
connection (every live command):
  --endpoints URLS   etcd endpoints, comma-separated ($PACER_ENDPOINTS,
                     default http://127.0.0.1:2379)
  --cluster NAME     which cluster's keys, /pacer/NAME/ ($PACER_CLUSTER,
                     default "default")
  --ca/--cert/--key  TLS: CA certificate, client certificate and key
                     ($PACER_ETCD_CA, $PACER_ETCD_CERT, $PACER_ETCD_KEY)
"""

EXIT_HELP = """\
exit status: 0 on success, 1 when the command failed (etcd unreachable,
invalid input, unknown resource or node, timeout), 2 on a usage error.
"""


class LiveError(Exception):
    """A live command cannot do what was asked: printed as one message, exit 1."""


def _connection(endpoints: str, cluster: str, ca: str | None, cert: str | None,
                key: str | None, timeout: float) -> Connection:
    try:
        return make_connection(endpoints, cluster, ca, cert, key, timeout)
    except BadConnection as exc:
        raise LiveError(str(exc)) from None


def add_connection_arguments(parser: argparse.ArgumentParser) -> None:
    """--endpoints --cluster --ca --cert --key --etcd-timeout, defaults from the environment."""
    env = os.environ
    g = parser.add_argument_group("connection")
    g.add_argument("--endpoints", metavar="URLS",
                   default=env.get("PACER_ENDPOINTS") or DEFAULT_ENDPOINTS,
                   help="etcd endpoints, comma-separated (default $PACER_ENDPOINTS or "
                        f"{DEFAULT_ENDPOINTS})")
    g.add_argument("--cluster", metavar="NAME",
                   default=env.get("PACER_CLUSTER") or DEFAULT_CLUSTER,
                   help="the cluster's name: its keys live under /pacer/NAME/ "
                        "(default $PACER_CLUSTER or 'default')")
    g.add_argument("--ca", metavar="FILE", default=env.get("PACER_ETCD_CA") or None,
                   help="CA certificate that signed etcd's (default $PACER_ETCD_CA)")
    g.add_argument("--cert", metavar="FILE", default=env.get("PACER_ETCD_CERT") or None,
                   help="client certificate for etcd (default $PACER_ETCD_CERT)")
    g.add_argument("--key", metavar="FILE", default=env.get("PACER_ETCD_KEY") or None,
                   help="client certificate's private key (default $PACER_ETCD_KEY)")
    g.add_argument("--etcd-timeout", metavar="SECONDS", type=float, default=5.0,
                   help="how long one request to etcd may take, retries included "
                        "(default 5)")


def connection_from_args(args: argparse.Namespace) -> Connection:
    if args.etcd_timeout <= 0:
        raise LiveError("--etcd-timeout must be positive")
    return _connection(args.endpoints, args.cluster, args.ca, args.cert, args.key,
                       args.etcd_timeout)


def run_async(conn: Connection, body: Callable[[ClusterStore], Awaitable[int]],
              prog: str = "pacer") -> int:
    """Run `body(cluster)` on a fresh etcd client and turn store failures (and
    `LiveError`) into messages: the body's exit code, or 1."""
    return run_client(conn, body, prog, errors=(LiveError,))


def run_live(args: argparse.Namespace, body: Callable[[ClusterStore], Awaitable[int]]
             ) -> int:
    """`run_async` with the connection from the command line."""
    try:
        conn = connection_from_args(args)
    except LiveError as exc:
        print(f"pacer: error: {exc}", file=sys.stderr)
        return 1
    return run_async(conn, body)


async def update_definition(cs: ClusterStore, change: Callable[[Snapshot], Edit],
                            attempts: int = 20) -> tuple[EditResult, int]:
    """Apply an edit to the stored definition with compare-and-swap on its revision.

    `change` sees a fresh snapshot on every attempt (so "the node RSC runs on" is
    read again after a conflict). Returns the result and the definition's revision
    now (unchanged when the edit changed nothing).
    """
    for _ in range(attempts):
        snap = await cs.snapshot()
        if snap.definition is None:
            raise LiveError("no definition is stored yet; push one first: "
                            "pacer config push cluster.yaml")
        try:
            result = apply_edit(snap.definition.text, change(snap))
        except EditError as exc:
            raise LiveError(str(exc)) from None
        if not result.changed:
            return result, snap.definition.revision
        try:
            revision = await cs.put_definition(result.text, snap.definition.revision)
        except DefinitionConflict:
            continue  # someone else changed it: read again and redo the edit on theirs
        return result, revision
    raise LiveError(f"the definition changed {attempts} times while this edit was being "
                    "applied; try again")


async def wait_for_change(cs: ClusterStore, revision: int, settle: float = 0.2) -> None:
    """Wait for a change in the cluster after `revision`; then let a burst of changes
    settle for `settle` seconds (a transition writes many keys) so a watcher
    redraws once per burst, not once per key."""
    watch = cs.watch(revision + 1)
    loop = asyncio.get_running_loop()
    try:
        await watch.__anext__()
        deadline = loop.time() + settle
        while (left := deadline - loop.time()) > 0:
            try:
                await asyncio.wait_for(watch.__anext__(), left)
            except TimeoutError:
                return
    finally:
        close = getattr(watch, "aclose", None)
        if close is not None:
            await close()
