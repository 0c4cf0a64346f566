"""Typed accessors for the string values of a CIB: scores, intervals, booleans.

The definition keeps meta attributes, parameters and properties as strings (as the CIB
does); everything that needs their meaning goes through these functions, so that every
part of pacer reads `resource-stickiness`, `interval` or `is-managed` the way Pacemaker
does.

Each parser is *strict* by default: anything that is not clearly valid raises
`ValueError` with a message that says what would be valid (the validator turns it into
a `Problem`). `lenient=True` reproduces Pacemaker's forgiving C parsers instead
(`char2score`, `crm_get_msec`, `crm_is_true`), for code that must decide exactly as
Pacemaker would on a CIB that was never validated.
"""

from __future__ import annotations

import re

INFINITY = 1_000_000
MINUS_INFINITY = -INFINITY

SCORE_HINT = "expected an integer, INFINITY, +INFINITY or -INFINITY"
INTERVAL_HINT = (
    "expected a number of seconds, a number with a unit (ms, s, min, m, h), "
    "e.g. 500ms, 10s, 1min, 2h, or an ISO 8601 duration such as PT10S"
)
BOOL_HINT = "expected true/false (also yes/no, on/off, y/n, 1/0)"
INT_HINT = "expected an integer"

TRUE_VALUES = frozenset({"true", "yes", "on", "y", "1"})
FALSE_VALUES = frozenset({"false", "no", "off", "n", "0"})


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------- scores


def clamp_score(n: int) -> int:
    """Clamp an integer to [-INFINITY, +INFINITY]."""
    if n >= INFINITY:
        return INFINITY
    if n <= MINUS_INFINITY:
        return MINUS_INFINITY
    return n


def parse_score(value: str | int, *, lenient: bool = False) -> int:
    """A Pacemaker score: an integer clamped to ±1,000,000, or (+/-)INFINITY.

    `INFINITY`, `+INFINITY` and `-INFINITY` are case-sensitive, as in Pacemaker.
    Strict mode raises `ValueError` for anything else that is not an integer; lenient
    mode mimics `char2score` (leading integer prefix, 0 when there is none).
    """
    if isinstance(value, bool):
        raise ValueError(f"{_text(value)!r} is not a valid score; {SCORE_HINT}")
    if isinstance(value, int):
        return clamp_score(value)
    text = str(value)
    stripped = text.strip()
    if stripped in ("INFINITY", "+INFINITY"):
        return INFINITY
    if stripped == "-INFINITY":
        return MINUS_INFINITY
    if lenient:
        m = re.match(r"\s*([+-]?\d+)", text)
        return clamp_score(int(m.group(1))) if m else 0
    if re.fullmatch(r"[+-]?\d+", stripped):
        return clamp_score(int(stripped))
    hint = SCORE_HINT
    if stripped.lstrip("+-").upper() == "INFINITY" or stripped.lstrip("+-").upper() == "INF":
        sign = "-" if stripped.startswith("-") else ""
        hint = f"did you mean {sign}INFINITY? (it is case-sensitive)"
    raise ValueError(f"{text!r} is not a valid score; {hint}")


def is_score(value: str | int) -> bool:
    try:
        parse_score(value)
    except ValueError:
        return False
    return True


def format_score(score: int) -> str:
    """The canonical text of a score: INFINITY, -INFINITY or the integer."""
    score = clamp_score(int(score))
    if score == INFINITY:
        return "INFINITY"
    if score == MINUS_INFINITY:
        return "-INFINITY"
    return str(score)


def add_scores(a: int, b: int) -> int:
    """Pacemaker score addition: -INF wins over +INF, otherwise a clamped sum."""
    if a <= MINUS_INFINITY or b <= MINUS_INFINITY:
        return MINUS_INFINITY
    if a >= INFINITY or b >= INFINITY:
        return INFINITY
    return clamp_score(a + b)


def sum_scores(scores) -> int:
    """`add_scores` folded over an iterable (0 for an empty one)."""
    total = 0
    for s in scores:
        total = add_scores(total, s)
    return total


# --------------------------------------------------------------------------- intervals

_UNIT_MS = {
    "": 1000,
    "s": 1000,
    "sec": 1000,
    "ms": 1,
    "msec": 1,
    "us": 0.001,
    "usec": 0.001,
    "m": 60_000,
    "min": 60_000,
    "h": 3_600_000,
    "hr": 3_600_000,
}

_ISO_RE = re.compile(
    r"P(?:(?P<Y>\d+)Y)?(?:(?P<Mo>\d+)M)?(?:(?P<W>\d+)W)?(?:(?P<D>\d+)D)?"
    r"(?:T(?:(?P<H>\d+)H)?(?:(?P<Mi>\d+)M)?(?:(?P<S>\d+)S)?)?",
    re.IGNORECASE,
)
_ISO_SECONDS = {
    "Y": 365 * 86400,
    "Mo": 30 * 86400,
    "W": 7 * 86400,
    "D": 86400,
    "H": 3600,
    "Mi": 60,
    "S": 1,
}


def _parse_iso_duration_ms(text: str) -> int | None:
    m = _ISO_RE.fullmatch(text)
    if not m or text.upper() in ("P", "PT") or text.upper().endswith("T"):
        return None
    seconds = sum(int(v) * _ISO_SECONDS[k] for k, v in m.groupdict().items() if v)
    return seconds * 1000


def parse_interval_ms(value: str | int, *, lenient: bool = False) -> int:
    """A Pacemaker interval or timeout in milliseconds.

    Accepts "10" (seconds), "10s", "500ms", "1m"/"1min", "2h"/"2hr", "100us" and ISO 8601
    durations ("PT10S", "P1DT2H"). Strict mode rejects fractions and unknown units;
    lenient mode mimics `crm_get_msec` (fraction truncated, unit matched by prefix).
    """
    if isinstance(value, bool):
        raise ValueError(f"{_text(value)!r} is not a valid interval; {INTERVAL_HINT}")
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"{value!r} is not a valid interval; it must not be negative")
        return value * 1000
    text = str(value)
    stripped = text.strip()
    if stripped.startswith("P"):
        ms = _parse_iso_duration_ms(stripped)
        if ms is None:
            raise ValueError(f"{text!r} is not a valid ISO 8601 duration; {INTERVAL_HINT}")
        return ms
    if lenient:
        m = re.match(r"([0-9.]+)\s*(.*)", stripped)
        if not m:
            raise ValueError(f"{text!r} is not a valid interval; {INTERVAL_HINT}")
        digits = re.match(r"\d*", m.group(1)).group(0)
        number = int(digits) if digits else 0
        rest = m.group(2).lower()
        for prefix, mult in (("ms", 1), ("us", 0.001), ("s", 1000), ("m", 60_000),
                             ("h", 3_600_000)):
            if rest.startswith(prefix):
                return int(number * mult)
        if rest == "":
            return number * 1000
        raise ValueError(f"{text!r} is not a valid interval; {INTERVAL_HINT}")
    m = re.fullmatch(r"(\d+)\s*([a-zA-Z]*)", stripped)
    if not m or m.group(2).lower() not in _UNIT_MS:
        raise ValueError(f"{text!r} is not a valid interval; {INTERVAL_HINT}")
    return int(int(m.group(1)) * _UNIT_MS[m.group(2).lower()])


def is_interval(value: str | int) -> bool:
    try:
        parse_interval_ms(value)
    except ValueError:
        return False
    return True


def format_interval(ms: int) -> str:
    """A readable interval that `parse_interval_ms` reads back: 0, 500ms, 10s, 5min, 2h."""
    ms = int(ms)
    if ms == 0:
        return "0"
    if ms % 3_600_000 == 0:
        return f"{ms // 3_600_000}h"
    if ms % 60_000 == 0:
        return f"{ms // 60_000}min"
    if ms % 1000 == 0:
        return f"{ms // 1000}s"
    return f"{ms}ms"


# --------------------------------------------------------------------------- booleans


def parse_bool(value: str | bool | int, *, default: bool | None = None) -> bool:
    """A Pacemaker boolean: true/yes/on/y/1 and false/no/off/n/0, case-insensitive.

    Anything else raises `ValueError`, unless `default` is given, which is then
    returned (Pacemaker's `crm_is_true` treats unrecognised text as false: pass
    `default=False` for that behaviour).
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in TRUE_VALUES:
        return True
    if text in FALSE_VALUES:
        return False
    if default is not None:
        return default
    raise ValueError(f"{_text(value)!r} is not a valid boolean; {BOOL_HINT}")


def is_bool(value: str | bool) -> bool:
    try:
        parse_bool(value)
    except ValueError:
        return False
    return True


def format_bool(value: bool) -> str:
    return "true" if value else "false"


# --------------------------------------------------------------------------- integers


def parse_int(value: str | int, *, allow_infinity: bool = False) -> int:
    """A plain integer (clone-max, priority, ...); with `allow_infinity`, a score."""
    if allow_infinity:
        return parse_score(value)
    if isinstance(value, bool):
        raise ValueError(f"{_text(value)!r} is not a valid integer; {INT_HINT}")
    if isinstance(value, int):
        return value
    text = str(value).strip()
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    raise ValueError(f"{str(value)!r} is not a valid integer; {INT_HINT}")


# --------------------------------------------------------------------------- roles

# A resource's roles, as the scheduler, history and constraints name them.
STOPPED = "Stopped"
STARTED = "Started"
PROMOTED = "Promoted"
UNPROMOTED = "Unpromoted"
ROLES = (STARTED, STOPPED, PROMOTED, UNPROMOTED, "Master", "Slave")
_ROLE_ALIASES = {"Master": "Promoted", "Slave": "Unpromoted"}


def normalize_role(role: str) -> str:
    """Map the legacy role names Master/Slave to Promoted/Unpromoted."""
    return _ROLE_ALIASES.get(role, role)


# --------------------------------------------------------------------------- known meta

# The type of each meta attribute / property pacer interprets. Kinds: "score" (integer
# or INFINITY), "int", "interval", "bool", or a tuple of allowed values.
RESOURCE_META: dict[str, object] = {
    "priority": "int",
    "critical": "bool",
    "target-role": ROLES,
    "is-managed": "bool",
    "maintenance": "bool",
    "resource-stickiness": "score",
    "requires": ("nothing", "quorum", "fencing", "unfencing"),
    "migration-threshold": "score",
    "failure-timeout": "interval",
    "multiple-active": ("block", "stop_only", "stop_start", "stop_unexpected"),
    "allow-migrate": "bool",
    "allow-unhealthy-nodes": "bool",
    "container-attribute-target": None,
    "remote-node": None,
    "remote-addr": None,
    "remote-port": "int",
    "remote-connect-timeout": "interval",
    "remote-allow-migrate": "bool",
    # groups
    "ordered": "bool",
    "collocated": "bool",
    # clones
    "globally-unique": "bool",
    "clone-max": "int",
    "clone-node-max": "int",
    "clone-min": "int",
    "notify": "bool",
    "interleave": "bool",
    "promotable": "bool",
    "promoted-max": "int",
    "promoted-node-max": "int",
    "master-max": "int",
    "master-node-max": "int",
    "description": None,
}

OPERATION_META: dict[str, object] = {
    "interval": "interval",
    "timeout": "interval",
    "start-delay": "interval",
    "interval-origin": None,
    "on-fail": ("ignore", "block", "stop", "restart", "standby", "fence", "demote"),
    "record-pending": "bool",
    "enabled": "bool",
    "role": ROLES,
    "requires": ("nothing", "quorum", "fencing", "unfencing"),
    "description": None,
}

CLUSTER_PROPERTIES: dict[str, object] = {
    "stonith-enabled": "bool",
    "fencing-enabled": "bool",
    "stonith-action": ("reboot", "off", "poweroff"),
    "stonith-timeout": "interval",
    "stonith-watchdog-timeout": None,
    "have-watchdog": "bool",
    "concurrent-fencing": "bool",
    "priority-fencing-delay": "interval",
    "no-quorum-policy": ("stop", "freeze", "ignore", "demote", "suicide", "fence"),
    "symmetric-cluster": "bool",
    "maintenance-mode": "bool",
    "stop-all-resources": "bool",
    "stop-orphan-resources": "bool",
    "stop-orphan-actions": "bool",
    "start-failure-is-fatal": "bool",
    "enable-startup-probes": "bool",
    "placement-strategy": ("default", "utilization", "minimal", "balanced"),
    "node-health-strategy": ("none", "migrate-on-red", "only-green", "progressive", "custom"),
    "node-health-base": "score",
    "node-health-green": "score",
    "node-health-yellow": "score",
    "node-health-red": "score",
    "cluster-recheck-interval": "interval",
    "shutdown-lock": "bool",
    "shutdown-lock-limit": "interval",
    "batch-limit": "int",
    "migration-limit": "int",
    "election-timeout": "interval",
    "shutdown-escalation": "interval",
    "join-integration-timeout": "interval",
    "join-finalization-timeout": "interval",
    "transition-delay": "interval",
    "dc-deadtime": "interval",
    "cluster-delay": "interval",
    "load-threshold": None,
    "node-action-limit": "int",
    "pe-error-series-max": "int",
    "pe-warn-series-max": "int",
    "pe-input-series-max": "int",
    "cluster-name": None,
    "cluster-infrastructure": None,
    "dc-version": None,
    "cluster-ipc-limit": "int",
    "enable-acl": "bool",
    "remove-after-stop": "bool",
    "startup-fencing": "bool",
    "fence-reaction": ("stop", "panic"),
    "no-quorum-policy-default": None,
    # pacer's own: whether a fence device's success is enough ("device", as in
    # Pacemaker) or the target's lease must be gone too ("device-and-lease").
    "fence-confirm": ("device", "device-and-lease"),
}


def check_value(kind: object, value: str) -> str | None:
    """None if `value` fits `kind` (see RESOURCE_META), else a message saying why not."""
    try:
        if kind == "score":
            parse_score(value)
        elif kind == "int":
            parse_int(value)
        elif kind == "interval":
            parse_interval_ms(value)
        elif kind == "bool":
            parse_bool(value)
        elif kind is ROLES and str(value).lower() in {r.lower() for r in ROLES}:
            return None  # Pacemaker reads role names case-insensitively
        elif isinstance(kind, tuple) and str(value) not in kind:
            return f"{str(value)!r} is not valid; expected one of {', '.join(kind)}"
    except ValueError as exc:
        return str(exc)
    return None
