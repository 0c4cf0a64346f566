"""A short-lived client of a live cluster: how it reaches etcd (endpoints, TLS,
the cluster's name: the key prefix `/pacer/<cluster>/`), and one run of it
with its failures explained on stderr.

The `pacer` live commands (`pacer/cli/live.py`) take the connection from
options, the crm_* shims (`pacer/shims/`) from the environment the node
daemon gives its agents (`pacer/node/config.py`):

    PACER_ENDPOINTS      etcd endpoints, comma-separated (default http://127.0.0.1:2379)
    PACER_CLUSTER        the cluster's name (default "default")
    PACER_ETCD_CA/CERT/KEY  TLS: CA certificate, client certificate and key
    PACER_ETCD_TIMEOUT   seconds one request may take, retries included

grpc is loaded only when a connection is made (`EtcdConfig`) or opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pacer.model.errors import ConfigError
from pacer.store.base import OutcomeUnknown, StoreError, StoreUnavailable
from pacer.store.cluster import ClusterStore

if TYPE_CHECKING:  # pragma: no cover
    from pacer.store.etcd import EtcdConfig

DEFAULT_ENDPOINTS = "http://127.0.0.1:2379"
DEFAULT_CLUSTER = "default"


class BadConnection(ValueError):
    """The endpoints, TLS files or cluster name cannot make a connection."""


@dataclass(frozen=True)
class Connection:
    """Where the cluster is: etcd's address and TLS, and the cluster's name."""

    config: EtcdConfig
    cluster: str = DEFAULT_CLUSTER

    @property
    def endpoints(self) -> tuple[str, ...]:
        return self.config.endpoints


def make_connection(endpoints: str, cluster: str, ca: str | None, cert: str | None,
                    key: str | None, timeout: float) -> Connection:
    """A connection from the options' spelling (raises BadConnection)."""
    from pacer.store.etcd import EtcdConfig  # grpc: only loaded by clients that use it

    eps = tuple(e.strip() for e in endpoints.split(",") if e.strip())
    try:
        config = EtcdConfig(eps, timeout=timeout, connect_timeout=min(1.0, timeout),
                            ca_file=ca, cert_file=cert, key_file=key)
    except ValueError as exc:
        raise BadConnection(f"{exc} (check --endpoints/$PACER_ENDPOINTS and "
                            "--ca/--cert/--key)") from None
    if not cluster or "/" in cluster:
        raise BadConnection(f"cluster name {cluster!r}: must be non-empty and without '/'")
    return Connection(config, cluster)


def connection_from_env(environ: Mapping[str, str] | None = None,
                        timeout: float = 5.0) -> Connection:
    """The connection the node daemon hands to agents (and the shims use)."""
    env = os.environ if environ is None else environ
    try:  # an agent's own timeout may be shorter than the default
        timeout = float(env.get("PACER_ETCD_TIMEOUT") or timeout)
    except ValueError:
        pass
    return make_connection(env.get("PACER_ENDPOINTS") or DEFAULT_ENDPOINTS,
                           env.get("PACER_CLUSTER") or DEFAULT_CLUSTER,
                           env.get("PACER_ETCD_CA") or None, env.get("PACER_ETCD_CERT") or None,
                           env.get("PACER_ETCD_KEY") or None, timeout)


@contextlib.asynccontextmanager
async def open_cluster(conn: Connection) -> AsyncIterator[ClusterStore]:
    """The typed layer on a fresh etcd client, closed on the way out."""
    from pacer.store.etcd import EtcdStore

    store = EtcdStore(conn.config)
    try:
        yield ClusterStore(store, conn.cluster)
    finally:
        await store.close()


def unreachable_message(conn: Connection, exc: StoreUnavailable) -> str:
    """etcd did not answer: which endpoints, why each failed, what to check."""
    lines = [f"cannot reach etcd for cluster {conn.cluster!r}"]
    tried = exc.endpoints or conn.endpoints
    lines.append("  tried:")
    lines.extend(f"    {t}" for t in tried)
    lines.append("  check:")
    lines.append("    - etcd runs and answers: etcdctl --endpoints="
                 f"{','.join(conn.endpoints)} endpoint health")
    lines.append("    - the endpoints are right: --endpoints or $PACER_ENDPOINTS")
    if conn.config.tls:
        lines.append("    - TLS: --ca/--cert/--key name the right files and etcd trusts "
                     "the client certificate")
    else:
        lines.append("    - if etcd wants TLS: https:// endpoints and --ca/--cert/--key")
    lines.append("    - a majority of etcd members is up (without quorum nothing answers)")
    return "\n".join(lines)


def run_client(conn: Connection, body: Callable[[ClusterStore], Awaitable[int]],
               prog: str = "pacer", unreachable: int = 1,
               errors: tuple[type[Exception], ...] = ()) -> int:
    """Run `body(cluster)` on a fresh etcd client and turn store failures into messages.

    Returns the body's exit code, or after printing what went wrong 1
    (`unreachable` when etcd did not answer: the shims use Pacemaker's code
    for that). `errors`: more exceptions that are printed as one message.
    """
    async def main() -> int:
        async with open_cluster(conn) as cs:
            return await body(cs)

    try:
        return asyncio.run(main())
    except OutcomeUnknown as exc:
        # Never retried blindly (a CAS could apply twice): say so and let the user look.
        print(f"{prog}: error: the answer to a write was lost; it may or may not have "
              f"been applied. Look with `pacer status` before trying again.\n  {exc}",
              file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"{prog}: error: {unreachable_message(conn, exc)}", file=sys.stderr)
        return unreachable
    except ConfigError as exc:
        for p in exc.problems:
            print(p, file=sys.stderr)
        print(f"{prog}: error: the configuration has {len(exc.errors)} error(s); "
              "nothing was changed", file=sys.stderr)
        return 1
    except (*errors, StoreError) as exc:
        print(f"{prog}: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
