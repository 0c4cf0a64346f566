"""The production store: etcd v3 over gRPC, through aetcd's protocol stubs.

aetcd's own `Client` talks to one endpoint, has no TLS and drops the response
header (the revision) of a txn, and pacer needs all three. So this module uses
aetcd for what it does well — the generated etcd v3 gRPC stubs and protobufs in
`aetcd.rpc` and its prefix range arithmetic — and manages the channels itself:

- several endpoints: one lazily opened channel each; a call goes to the current
  endpoint and moves on to the next when that one fails;
- a deadline per call (`EtcdConfig.timeout`) covering every retry, with
  exponential backoff after each full round of endpoints;
- retries that are safe: a read, a keepalive or a watch is retried after any
  transient failure; a write (put, delete, txn, grant, revoke) only when the
  request provably never took effect — no connection to send it on, or etcd
  refused it before proposing it ("no leader", sent because every request
  carries etcd's require-leader metadata). A write whose answer was lost raises
  `OutcomeUnknown` instead of being sent again, so a txn never applies twice;
- TLS with a client certificate when `ca_file`/`cert_file`/`key_file` are set.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import grpc
from aetcd import rpc
from aetcd.utils import prefix_range_end

from pacer.store.base import (
    Compacted,
    Compare,
    Delete,
    Event,
    EventType,
    Get,
    InvalidRequest,
    KeyValue,
    Lease,
    LeaseNotFound,
    Op,
    OpResult,
    OutcomeUnknown,
    Put,
    Range,
    Store,
    StoreError,
    StoreUnavailable,
    TxnResult,
)

T = TypeVar("T")

# etcd answers "no leader" at once, before proposing anything, to requests with this
# metadata (clientv3.WithRequireLeader); without it a member cut off from the
# quorum holds the request until its own timeout.
_METADATA = (("hasleader", "true"),)

_CHANNEL_OPTIONS = (
    # gRPC's default backoff grows to 2 minutes: a restarted member would stay unused.
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.min_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
    # A whole cluster's status is one range read; the 4 MiB default is too small.
    ("grpc.max_receive_message_length", 256 * 1024 * 1024),
    # Find a silently dead connection (host gone, link cut) while a watch idles.
    # etcd allows pings every 5 s (--grpc-keepalive-min-time).
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
)

_TARGETS = {"value": rpc.Compare.VALUE, "version": rpc.Compare.VERSION,
            "create": rpc.Compare.CREATE, "mod": rpc.Compare.MOD, "lease": rpc.Compare.LEASE}
_RESULTS = {"==": rpc.Compare.EQUAL, "!=": rpc.Compare.NOT_EQUAL,
            "<": rpc.Compare.LESS, ">": rpc.Compare.GREATER}
_FIELDS = {"value": "value", "version": "version", "create": "create_revision",
           "mod": "mod_revision", "lease": "lease"}

# gRPC/etcd error texts that prove a request was not applied.
_NOT_SENT = ("failed to connect to all addresses", "connections to all backends failing",
             "connection refused", "ssl handshake", "handshake failed")
_REFUSED = ("etcdserver: no leader", "etcdserver: not capable", "etcdserver: too many requests")


# How long one keepalive may wait for one member before asking the next.
KEEPALIVE_ATTEMPT_S = 0.4
# After moving away from the first (preferred) endpoint, try it again this late.
PREFER_FIRST_AFTER_S = 2.0
# How long one write may wait for its answer before its outcome is unknown.
MUTATION_ATTEMPT_S = 0.7
# A write still unanswered this long makes the client ask its member, every
# LEADER_POLL_S, whether etcd's leader changed meanwhile.
LEADER_CHECK_AFTER_S = 0.1
LEADER_POLL_S = 0.05
# A member a call just failed on is skipped by other calls for this long.
FAILED_SKIP_S = 1.0
# A read unanswered this long is sent to the next member too.
HEDGE_AFTER_S = 0.3


@dataclass(frozen=True)
class EtcdConfig:
    """How to reach etcd.

    `endpoints`: "host:port", "http://host:port" or "https://host:port".
    `timeout`: seconds a call may take, all retries included.
    `connect_timeout`: seconds to wait for a connection to one endpoint before
    trying the next. TLS is used when any of `ca_file`, `cert_file`, `key_file`
    is set or an endpoint says https; `cert_file`/`key_file` are the client
    certificate for etcd's `--client-cert-auth`; `server_name` overrides the name
    checked in the server's certificate.
    """

    endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    timeout: float = 5.0
    connect_timeout: float = 1.0
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    server_name: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.endpoints, str):
            object.__setattr__(self, "endpoints", tuple(self.endpoints.split(",")))
        if not self.endpoints:
            raise ValueError("etcd: no endpoints configured")
        for e in self.endpoints:
            _address(e)
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("etcd TLS: cert_file and key_file go together "
                             "(the client certificate and its private key)")
        if self.timeout <= 0 or self.connect_timeout <= 0:
            raise ValueError("etcd: timeouts must be positive")

    @property
    def tls(self) -> bool:
        return bool(self.ca_file or self.cert_file
                    or any(e.startswith("https://") for e in self.endpoints))

    def credentials(self) -> grpc.ChannelCredentials:
        def read(what: str, path: str | None) -> bytes | None:
            if path is None:
                return None
            try:
                return Path(path).read_bytes()
            except OSError as exc:
                raise StoreError(f"etcd TLS: cannot read the {what} {path}: {exc.strerror}"
                                 ) from None

        return grpc.ssl_channel_credentials(
            root_certificates=read("CA certificate (ca_file)", self.ca_file),
            private_key=read("client key (key_file)", self.key_file),
            certificate_chain=read("client certificate (cert_file)", self.cert_file),
        )


def _address(endpoint: str) -> str:
    addr = endpoint.strip()
    for scheme in ("http://", "https://"):
        if addr.startswith(scheme):
            addr = addr[len(scheme):]
    addr = addr.rstrip("/")
    host, sep, port = addr.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"etcd endpoint {endpoint!r}: expected host:port, "
                         "http://host:port or https://host:port")
    return addr


class _Retry(Exception):
    """An attempt failed in a way that is safe to retry on another endpoint."""


class _Endpoint:
    def __init__(self, address: str, config: EtcdConfig,
                 credentials: grpc.ChannelCredentials | None) -> None:
        self.address = address
        self._config = config
        self._credentials = credentials
        self._channel: grpc.aio.Channel | None = None
        self.kv: rpc.KVStub
        self.lease: rpc.LeaseStub
        self.watch: rpc.WatchStub
        self.maintenance: rpc.MaintenanceStub
        self.term = 0  # the highest raft term seen in this member's answers
        self.failed_at = -FAILED_SKIP_S  # when a call to it last failed (loop time)

    def channel(self) -> grpc.aio.Channel:
        if self._channel is None:
            options = list(_CHANNEL_OPTIONS)
            if self._credentials is not None:
                if self._config.server_name:
                    options.append(("grpc.ssl_target_name_override", self._config.server_name))
                self._channel = grpc.aio.secure_channel(self.address, self._credentials, options)
            else:
                self._channel = grpc.aio.insecure_channel(self.address, options)
            self.kv = rpc.KVStub(self._channel)
            self.lease = rpc.LeaseStub(self._channel)
            self.watch = rpc.WatchStub(self._channel)
            self.maintenance = rpc.MaintenanceStub(self._channel)
        return self._channel

    def saw(self, header: rpc.ResponseHeader) -> None:
        self.term = max(self.term, header.raft_term)

    async def leader_change(self) -> str:
        """Return once this member has no leader or a newer term than any seen
        before (the reason, for the error); never returns while nothing changed.

        A write a member forwarded to a leader that then died is dropped, and
        etcd never answers it: without this the client waits out its attempt
        although a new leader is there (lab: a deposition sent just before the
        lost host's member was found dead waited 0.7 s, 0.55 s of them after
        the new leader was elected)."""
        await asyncio.sleep(LEADER_CHECK_AFTER_S)
        term = self.term
        while True:
            try:
                # No require-leader metadata: etcd would refuse the question.
                st = await self.maintenance.Status(rpc.StatusRequest(), timeout=LEADER_POLL_S * 2)
            except grpc.aio.AioRpcError:
                st = None
            if st is not None:
                if not st.leader:
                    return "the member has no leader"
                if term and st.raftTerm > term:
                    return f"a new leader was elected (term {term} -> {st.raftTerm})"
                term = term or st.raftTerm
            await asyncio.sleep(LEADER_POLL_S)

    async def connect(self, timeout: float) -> bool:
        """Wait for a connection; False if there is none yet (then nothing can be sent).

        A channel in TRANSIENT_FAILURE counts as connected: a call on it fails at
        once with the reason (refused, TLS handshake) and without being sent.
        """
        ch = self.channel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        state = ch.get_state(try_to_connect=True)
        while state not in (grpc.ChannelConnectivity.READY,
                            grpc.ChannelConnectivity.TRANSIENT_FAILURE):
            remaining = deadline - loop.time()
            if remaining <= 0 or state == grpc.ChannelConnectivity.SHUTDOWN:
                return False
            try:
                async with asyncio.timeout(remaining):  # not wait_for: see _open_watch
                    await ch.wait_for_state_change(state)
            except TimeoutError:
                return False
            state = ch.get_state(try_to_connect=True)
        return True

    async def reset(self) -> None:
        if self._channel is not None:
            ch, self._channel = self._channel, None
            await ch.close()


def _kv(kv: rpc.KeyValue) -> KeyValue:
    return KeyValue(key=kv.key.decode(), value=kv.value, create_revision=kv.create_revision,
                    mod_revision=kv.mod_revision, version=kv.version, lease=kv.lease)


def _range_request(key: str, prefix: bool, **extra: object) -> rpc.RangeRequest:
    k = key.encode()
    if not prefix:
        return rpc.RangeRequest(key=k, **extra)
    if not k:
        return rpc.RangeRequest(key=b"\0", range_end=b"\0", **extra)
    return rpc.RangeRequest(key=k, range_end=prefix_range_end(k), **extra)


def _compare(c: Compare) -> rpc.Compare:
    msg = rpc.Compare(key=c.key.encode(), target=_TARGETS[c.target], result=_RESULTS[c.op])
    if isinstance(c.operand, bytes) != (c.target == "value"):
        raise InvalidRequest(f"compare {c.target} of {c.key!r} with {c.operand!r}: "
                             "value compares take bytes, the others an int")
    setattr(msg, _FIELDS[c.target], c.operand)
    return msg


def _request_op(op: Op) -> rpc.RequestOp:
    if isinstance(op, Put):
        return rpc.RequestOp(request_put=rpc.PutRequest(key=op.key.encode(), value=op.value,
                                                        lease=op.lease))
    if isinstance(op, Delete):
        r = _range_request(op.key, op.prefix)
        return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(
            key=r.key, range_end=r.range_end))
    if isinstance(op, Get):
        return rpc.RequestOp(request_range=_range_request(op.key, op.prefix))
    raise InvalidRequest(f"unknown txn op {op!r}")


def _op_result(resp: rpc.ResponseOp) -> OpResult:
    kind = resp.WhichOneof("response")
    if kind == "response_range":
        return tuple(_kv(kv) for kv in resp.response_range.kvs)
    if kind == "response_delete_range":
        return resp.response_delete_range.deleted
    return None


def _details(e: grpc.aio.AioRpcError) -> str:
    text = (e.details() or "").strip().splitlines()
    return f"{e.code().name}: {text[0][:200] if text else ''}"


def _fatal(e: grpc.aio.AioRpcError, lease_id: int = 0) -> StoreError | None:
    """The StoreError for an error that no retry can fix, or None."""
    code, text = e.code(), (e.details() or "")
    if code == grpc.StatusCode.NOT_FOUND and "lease not found" in text:
        return LeaseNotFound(lease_id)
    if code == grpc.StatusCode.OUT_OF_RANGE and "compacted" in text:
        return Compacted(0)
    if code in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.FAILED_PRECONDITION):
        return InvalidRequest(f"etcd refused the request: {text}")
    if code in (grpc.StatusCode.PERMISSION_DENIED, grpc.StatusCode.UNAUTHENTICATED):
        return StoreError(f"etcd refused the request: {text} (check the client "
                          "certificate and etcd's auth settings)")
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED,
                grpc.StatusCode.CANCELLED, grpc.StatusCode.RESOURCE_EXHAUSTED,
                grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL):
        return None
    return StoreError(f"etcd error {_details(e)}")


def _not_applied(e: grpc.aio.AioRpcError) -> bool:
    text = (e.details() or "").lower()
    return any(s in text for s in _NOT_SENT) or any(s in text for s in _REFUSED)


class EtcdStore(Store):
    def __init__(self, config: EtcdConfig | None = None) -> None:
        self.config = config or EtcdConfig()
        creds = self.config.credentials() if self.config.tls else None
        self._endpoints = [_Endpoint(_address(e), self.config, creds)
                           for e in self.config.endpoints]
        self._current = 0  # the endpoint that answered last: calls start there
        self._left_first_at = 0.0  # when calls last moved away from the first endpoint
        self._closed = False

    @property
    def current_endpoint(self) -> str:
        """The endpoint the next call goes to first."""
        return self._endpoints[self._current].address

    # ------------------------------------------------------------- the retry loop

    async def _call(self, what: str, attempt: Callable[[_Endpoint, float], Awaitable[T]],
                    idempotent: bool, lease_id: int = 0,
                    attempt_timeout: float | None = None, hedge: bool = False) -> T:
        if self._closed:
            raise StoreError("etcd store is closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.timeout
        tried: dict[str, str] = {}
        failures = 0
        backoff = 0.05
        if self._current != 0 and loop.time() - self._left_first_at > PREFER_FIRST_AFTER_S:
            # The first endpoint is the preferred one (a node's own member: it
            # lives and dies with the node). Go back to it once it may be up
            # again, or a client that once moved stays on another host's member
            # and hangs on it when that host dies (seen in the lab: a takeover
            # waited 3 s for the new holder's actions to arrive).
            self._current = 0
        # Each call walks the endpoints in its own order from the shared start,
        # skipping members that failed a moment ago. (A shared cursor that every
        # failure moved sent concurrent calls round in step, several times to
        # the same dead member: lab, a node's read waited 5 s on a lost host's
        # member while two others answered.)
        i = self._next(self._current, include=True)
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise self._unavailable(what, tried)
            ep = self._endpoints[i]
            try:
                # No reset of the channel here: other tasks may have calls on it, and
                # gRPC keeps reconnecting (within a second, see _CHANNEL_OPTIONS).
                if not await ep.connect(min(self.config.connect_timeout, remaining)):
                    raise _Retry(f"no connection within {self.config.connect_timeout:g}s")
                # A read that hangs (a member cut off from the quorum before it
                # notices) must leave time to ask another member.
                # A write sent while etcd elects a leader is dropped, not held:
                # it would hang for the whole timeout. Give it up sooner (its
                # outcome is then unknown, as for any lost answer) so that the
                # caller's retry reaches the new leader (lab: a deposition
                # waited 5 s when the lost host had been etcd's leader).
                budget = min(remaining, MUTATION_ATTEMPT_S) if not idempotent else min(
                    remaining, attempt_timeout or max(self.config.timeout / 2,
                                                      self.config.connect_timeout))
                if hedge:
                    result, i = await self._hedged(attempt, i, budget)
                elif idempotent:
                    result = await attempt(ep, budget)
                else:
                    result = await self._write_attempt(what, ep, attempt(ep, budget), tried)
                self._answered(i)
                return result
            except _Retry as r:
                tried[ep.address] = str(r)
            except grpc.aio.AioRpcError as e:
                err = _fatal(e, lease_id)
                if err is not None:
                    raise err from None
                tried[ep.address] = _details(e)
                if not idempotent and not _not_applied(e):
                    raise OutcomeUnknown(
                        f"etcd: the answer to {what} from {ep.address} was lost "
                        f"({_details(e)}); it may or may not have been applied",
                        [f"{a} ({r})" for a, r in tried.items()]) from None
            ep.failed_at = loop.time()
            i = self._next(i)
            failures += 1
            if failures % len(self._endpoints) == 0:
                pause = min(backoff * (0.5 + random.random()), deadline - loop.time())
                if pause > 0:
                    await asyncio.sleep(pause)
                backoff = min(backoff * 2, 1.0)

    async def _hedged(self, attempt: Callable[[_Endpoint, float], Awaitable[T]], i: int,
                      budget: float) -> tuple[T, int]:
        """A read sent to member `i` and, when it has not answered within
        HEDGE_AFTER_S, to the next member too: the first answer wins. A read
        may be sent twice; a member whose host just died (its channel still
        looks ready) then costs a fraction of a second, not the attempt's
        whole budget (lab: a node's definition read waited 2.5 s)."""
        loop = asyncio.get_running_loop()
        first = asyncio.ensure_future(attempt(self._endpoints[i], budget))
        done, _ = await asyncio.wait([first], timeout=HEDGE_AFTER_S)
        j = self._next(i)
        if done or j == i:
            return await first, i
        self._endpoints[j].channel()  # opened, if it never was (gRPC connects on the call)
        second = asyncio.ensure_future(attempt(self._endpoints[j], max(budget - HEDGE_AFTER_S,
                                                                       HEDGE_AFTER_S)))
        pending = {first: i, second: j}
        error: BaseException | None = None
        try:
            while pending:
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for t in done:
                    k = pending.pop(t)
                    if t.exception() is None:
                        return t.result(), k
                    error = t.exception()
                    self._endpoints[k].failed_at = loop.time()
            assert error is not None
            raise error
        finally:
            for t in pending:
                t.cancel()
            for t in pending:
                with contextlib.suppress(BaseException):
                    await t

    async def _write_attempt(self, what: str, ep: _Endpoint, call: Awaitable[T],
                             tried: dict[str, str]) -> T:
        """A write's attempt, given up as soon as etcd's leader changes under it."""
        write = asyncio.ensure_future(call)
        watch = asyncio.ensure_future(ep.leader_change())
        try:
            await asyncio.wait([write, watch], return_when=asyncio.FIRST_COMPLETED)
        finally:
            watch.cancel()
            if not write.done():
                write.cancel()
                with contextlib.suppress(BaseException):
                    await write
        if not write.cancelled():
            return write.result()
        reason = watch.result()
        tried[ep.address] = reason
        raise OutcomeUnknown(f"etcd: {what} sent to {ep.address} got no answer and {reason}; "
                             "it may or may not have been applied",
                             [f"{a} ({r})" for a, r in tried.items()])

    def _next(self, i: int, include: bool = False) -> int:
        """The endpoint after `i` (or `i` itself, with `include`) that has not
        failed in the last FAILED_SKIP_S; plainly the next one if all have."""
        n = len(self._endpoints)
        now = asyncio.get_running_loop().time()
        for k in range(0 if include else 1, n + 1):
            j = (i + k) % n
            if now - self._endpoints[j].failed_at > FAILED_SKIP_S:
                return j
        return (i + (0 if include else 1)) % n

    def _answered(self, i: int) -> None:
        self._endpoints[i].failed_at = -FAILED_SKIP_S
        if i != self._current:
            if self._current == 0:
                self._left_first_at = asyncio.get_running_loop().time()
            self._current = i

    def _unavailable(self, what: str, tried: dict[str, str]) -> StoreUnavailable:
        attempts = [f"{a} ({r})" for a, r in tried.items()]
        hint = ("Check that etcd is running and that these endpoints are right "
                f"(etcdctl --endpoints={','.join(e.address for e in self._endpoints)} "
                "endpoint health)")
        if self.config.tls:
            hint += ("; with TLS, that the CA (ca_file) signed the server certificate, which "
                     "must name the endpoint host, and that etcd accepts the client "
                     "certificate (cert_file, key_file)")
        return StoreUnavailable(
            f"etcd unavailable: {what} got no answer within {self.config.timeout:g}s. "
            f"Tried: {'; '.join(attempts) or 'nothing'}. {hint}.", attempts)

    # ------------------------------------------------------------- key/value

    async def get(self, key: str) -> KeyValue | None:
        async def attempt(ep: _Endpoint, t: float) -> KeyValue | None:
            r = await ep.kv.Range(_range_request(key, False), timeout=t, metadata=_METADATA)
            return _kv(r.kvs[0]) if r.kvs else None
        return await self._call(f"get {key!r}", attempt, idempotent=True, hedge=True)

    async def get_prefix(self, prefix: str) -> Range:
        async def attempt(ep: _Endpoint, t: float) -> Range:
            r = await ep.kv.Range(_range_request(prefix, True), timeout=t, metadata=_METADATA)
            ep.saw(r.header)
            return Range(tuple(_kv(kv) for kv in r.kvs), r.header.revision)
        return await self._call(f"get prefix {prefix!r}", attempt, idempotent=True,
                                hedge=True)

    async def _revision(self) -> int:
        async def attempt(ep: _Endpoint, t: float) -> int:
            r = await ep.kv.Range(_range_request("\0", False, count_only=True),
                                  timeout=t, metadata=_METADATA)
            return r.header.revision
        return await self._call("read the revision", attempt, idempotent=True, hedge=True)

    async def put(self, key: str, value: bytes, lease: int = 0) -> int:
        async def attempt(ep: _Endpoint, t: float) -> int:
            r = await ep.kv.Put(rpc.PutRequest(key=key.encode(), value=value, lease=lease),
                                timeout=t, metadata=_METADATA)
            ep.saw(r.header)
            return r.header.revision
        return await self._call(f"put {key!r}", attempt, idempotent=False, lease_id=lease)

    async def delete(self, key: str) -> bool:
        async def attempt(ep: _Endpoint, t: float) -> bool:
            r = await ep.kv.DeleteRange(rpc.DeleteRangeRequest(key=key.encode()),
                                        timeout=t, metadata=_METADATA)
            return r.deleted > 0
        return await self._call(f"delete {key!r}", attempt, idempotent=False)

    async def txn(self, compares: Sequence[Compare], on_success: Sequence[Op] = (),
                  on_failure: Sequence[Op] = ()) -> TxnResult:
        request = rpc.TxnRequest(compare=[_compare(c) for c in compares],
                                 success=[_request_op(op) for op in on_success],
                                 failure=[_request_op(op) for op in on_failure])
        leases = [op.lease for op in (*on_success, *on_failure)
                  if isinstance(op, Put) and op.lease]

        async def attempt(ep: _Endpoint, t: float) -> TxnResult:
            r = await ep.kv.Txn(request, timeout=t, metadata=_METADATA)
            ep.saw(r.header)
            return TxnResult(succeeded=r.succeeded, revision=r.header.revision,
                             results=tuple(_op_result(x) for x in r.responses))
        try:
            return await self._call("txn", attempt, idempotent=False,
                                    lease_id=leases[0] if leases else 0)
        except LeaseNotFound:
            if len(set(leases)) > 1:
                raise LeaseNotFound(0) from None  # etcd does not say which one
            raise

    # ------------------------------------------------------------- leases

    async def grant(self, ttl: int) -> Lease:
        async def attempt(ep: _Endpoint, t: float) -> Lease:
            r = await ep.lease.LeaseGrant(rpc.LeaseGrantRequest(TTL=ttl), timeout=t,
                                          metadata=_METADATA)
            if r.error:
                raise StoreError(f"etcd refused a lease of {ttl}s: {r.error}")
            return Lease(r.ID, r.TTL)
        return await self._call(f"grant a {ttl}s lease", attempt, idempotent=False)

    async def keepalive(self, lease_id: int) -> int:
        async def attempt(ep: _Endpoint, t: float) -> int:
            call = ep.lease.LeaseKeepAlive(timeout=t, metadata=_METADATA)
            try:
                await call.write(rpc.LeaseKeepAliveRequest(ID=lease_id))
                r = await call.read()
            finally:
                call.cancel()
            if r is grpc.aio.EOF:
                raise _Retry("keepalive stream closed")
            ep.saw(r.header)
            if r.TTL <= 0:
                raise LeaseNotFound(lease_id)
            return r.TTL
        # A keepalive must get through within a fraction of the lease: when the
        # member it went to is gone (its host powered off: no reset, the call
        # just hangs), ask the next one soon (seen in the lab: a node whose
        # client stuck to a fenced host's member fenced itself).
        return await self._call(f"keep lease {lease_id:x} alive", attempt, idempotent=True,
                                lease_id=lease_id, attempt_timeout=KEEPALIVE_ATTEMPT_S)

    async def revoke(self, lease_id: int) -> None:
        async def attempt(ep: _Endpoint, t: float) -> None:
            await ep.lease.LeaseRevoke(rpc.LeaseRevokeRequest(ID=lease_id), timeout=t,
                                       metadata=_METADATA)
        await self._call(f"revoke lease {lease_id:x}", attempt, idempotent=False,
                         lease_id=lease_id)

    async def time_to_live(self, lease_id: int) -> int:
        async def attempt(ep: _Endpoint, t: float) -> int:
            r = await ep.lease.LeaseTimeToLive(rpc.LeaseTimeToLiveRequest(ID=lease_id),
                                               timeout=t, metadata=_METADATA)
            if r.TTL < 0:
                raise LeaseNotFound(lease_id)
            return r.TTL
        return await self._call(f"read lease {lease_id:x}", attempt, idempotent=True,
                                lease_id=lease_id)

    # ------------------------------------------------------------- watch

    async def _open_watch(self, prefix: str, start: int
                          ) -> tuple[grpc.aio.StreamStreamCall, _Endpoint]:
        r = _range_request(prefix, True)
        create = rpc.WatchRequest(create_request=rpc.WatchCreateRequest(
            key=r.key, range_end=r.range_end, start_revision=start))

        async def attempt(ep: _Endpoint, t: float
                          ) -> tuple[grpc.aio.StreamStreamCall, _Endpoint]:
            call = ep.watch.Watch(metadata=_METADATA)
            try:
                await call.write(create)
                # asyncio.timeout, not wait_for: on Python 3.11 wait_for returns
                # the answer when it races with a cancellation, and the caller
                # (a controller closing its watch) then waited forever for a
                # watch that went on (lab: after deposing a lost controller no
                # survivor campaigned again; the hung ones piled up).
                async with asyncio.timeout(t):
                    resp = await call.read()
            except TimeoutError:
                call.cancel()
                raise _Retry("no answer to the watch request") from None
            except BaseException:
                call.cancel()
                raise
            if resp is grpc.aio.EOF or not resp.created or resp.canceled:
                call.cancel()
                if resp is not grpc.aio.EOF and resp.compact_revision:
                    raise Compacted(resp.compact_revision)
                reason = "" if resp is grpc.aio.EOF else resp.cancel_reason
                raise _Retry(f"watch not created {reason}".strip())
            return call, ep
        return await self._call(f"watch {prefix!r}", attempt, idempotent=True)

    async def watch_prefix(self, prefix: str, start_revision: int | None = None
                           ) -> AsyncIterator[Event]:
        loop = asyncio.get_running_loop()
        next_rev = start_revision or (await self._revision()) + 1
        failing_since: float | None = None
        while True:
            call, ep = await self._open_watch(prefix, next_rev)
            opened, delivered, why = loop.time(), False, "the stream ended"
            try:
                while True:
                    resp = await call.read()
                    if resp is grpc.aio.EOF:
                        break
                    if resp.compact_revision:
                        raise Compacted(resp.compact_revision)
                    if resp.canceled:  # e.g. the member lost its leader: resume elsewhere
                        why = f"watch canceled: {resp.cancel_reason}"
                        break
                    for ev in resp.events:
                        kind = EventType.DELETE if ev.type == rpc.Event.DELETE else EventType.PUT
                        next_rev = ev.kv.mod_revision + 1
                        delivered = True
                        yield Event(kind, _kv(ev.kv))
            except grpc.aio.AioRpcError as e:
                err = _fatal(e)
                if err is not None:
                    raise err from None
                why = _details(e)
            finally:
                call.cancel()
            # A watch is a read: resuming from the next revision repeats and loses nothing.
            # But streams that keep breaking right after opening are an outage.
            now = loop.time()
            if delivered or now - opened > self.config.timeout:
                failing_since = None
            else:
                failing_since = failing_since if failing_since is not None else opened
                if now - failing_since > self.config.timeout:
                    raise self._unavailable(f"watch {prefix!r}", {ep.address: why})
                await asyncio.sleep(0.1)
            # Resume on another member unless this one is all there is.
            ep.failed_at = loop.time()

    async def close(self) -> None:
        self._closed = True
        for ep in self._endpoints:
            await ep.reset()
