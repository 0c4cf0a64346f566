"""Read a Pacemaker CIB (XML): the document, and its configuration as a `Definition`.

Only what pacer models is read; unknown elements are ignored so that any CIB a
Pacemaker cluster produced can be loaded. Role names are normalised to the
current vocabulary (Master → Promoted, Slave → Unpromoted). The `<status>`
section is read beside the cluster status (`pacer.status.cib`), which also
has `load_cib` (both at once).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

from pacer.model.definition import (
    Clone,
    Colocation,
    DateExpression,
    DateSpec,
    Definition,
    Expression,
    Group,
    Location,
    Node,
    NVSet,
    Operation,
    OpExpression,
    Order,
    Primitive,
    ResourceSet,
    RscExpression,
    Rule,
    frozen,
)
from pacer.model.errors import ConfigError, Problem
from pacer.model.meta import normalize_role as _normalize_role
from pacer.model.meta import parse_bool as _meta_bool
from pacer.model.meta import parse_interval_ms as _strict_interval_ms
from pacer.model.meta import parse_score as _strict_score


def parse_score(value: str) -> int:
    """Scores as Pacemaker reads them from a CIB: leniently."""
    return _strict_score(value, lenient=True)


def parse_interval_ms(value: str) -> int:
    """Intervals as Pacemaker reads them from a CIB: leniently (it accepts `P10S`)."""
    try:
        return _strict_interval_ms(value, lenient=True)
    except ValueError:
        text = value.strip()
        if text.startswith("P") and not text.startswith("PT"):
            try:
                return _strict_interval_ms("PT" + text[1:], lenient=True)
            except ValueError:
                pass
        return 0


def parse_bool(value: str, default: bool = False) -> bool:
    """Booleans as a CIB carries them; an invalid value means the default."""
    return _meta_bool(value, default=default)


def normalize_role(role: str | None) -> str | None:
    return _normalize_role(role) if role is not None else None


class CibDocument:
    """One parsed CIB: its root element and the lookups shared while reading it
    (id-refs point anywhere)."""

    def __init__(self, root: ET.Element, filename: str) -> None:
        self.root = root
        self.filename = filename
        self.by_id: dict[str, ET.Element] = {}
        for el in root.iter():
            i = el.get("id")
            if i is not None and el.get("id-ref") is None and i not in self.by_id:
                self.by_id[i] = el

    def deref(self, el: ET.Element) -> ET.Element:
        ref = el.get("id-ref")
        if ref is None:
            return el
        target = self.by_id.get(ref)
        if target is None:
            raise ConfigError(
                [Problem(self.filename, None, el.tag, f"id-ref {ref!r} names no element", "")]
            )
        return target

    def error(self, where: str, message: str, hint: str = "") -> ConfigError:
        return ConfigError([Problem(self.filename, None, where, message, hint)])

    def sets(self, parent: ET.Element, tag: str) -> dict[str, str]:
        """Every `<tag>` name/value set of `parent`, merged (first value of a name wins)."""
        return _sets(self, parent, tag)


def parse_cib(source: str | Path, *, filename: str | None = None) -> CibDocument:
    """Parse a CIB from a path or XML text (a well-formed `<cib>`, or ConfigError)."""
    text: str
    if isinstance(source, Path) or (isinstance(source, str) and not source.lstrip().startswith("<")):
        path = Path(source)
        filename = filename or str(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError([Problem(filename, None, "", f"cannot read: {exc.strerror}", "")]) from exc
    else:
        text = str(source)
        filename = filename or "<cib>"
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        line = exc.position[0] if exc.position else None
        raise ConfigError(
            [Problem(filename, line, "", f"malformed XML: {exc}", "check the CIB is well-formed XML")]
        ) from exc
    if root.tag != "cib":
        raise ConfigError(
            [Problem(filename, None, root.tag, f"root element is <{root.tag}>, expected <cib>", "")]
        )
    return CibDocument(root, filename)


def read_definition(doc: CibDocument) -> Definition:
    """The document's `<configuration>` as a Definition."""
    config = doc.root.find("configuration")
    if config is None:
        raise doc.error("cib", "no <configuration> section")
    return _read_configuration(doc, config)


# --------------------------------------------------------------------------- configuration


def _nvpairs(ctx: CibDocument, el: ET.Element | None) -> dict[str, str]:
    """Name/value pairs of every child set of `el` of the given kind, first wins."""
    out: dict[str, str] = {}
    if el is None:
        return out
    el = ctx.deref(el)
    unset: set[str] = set()
    for nv in el.findall("nvpair"):
        nv = ctx.deref(nv)
        name = nv.get("name")
        if name is None or name in out or name in unset:
            continue
        value = nv.get("value", "")
        if value.lower() == "#default":
            # Pacemaker's way to say "not set": the default applies (and such a
            # parameter is no part of the operation digest, novell-239087).
            unset.add(name)
            continue
        out[name] = value
    return out


def _sets(ctx: CibDocument, parent: ET.Element, tag: str) -> dict[str, str]:
    """Merge all `<tag>` sets of a parent (Pacemaker: first value of a name wins)."""
    out: dict[str, str] = {}
    for s in parent.findall(tag):
        for k, v in _nvpairs(ctx, s).items():
            out.setdefault(k, v)
    return out


def _nvsets(ctx: CibDocument, parent: ET.Element | None) -> tuple[NVSet, ...]:
    if parent is None:
        return ()
    out = []
    for s in parent.findall("meta_attributes"):
        s = ctx.deref(s)
        rule_el = s.find("rule")
        rule = _rule(ctx, rule_el) if rule_el is not None else None
        out.append(
            NVSet(
                values=frozen(_nvpairs(ctx, s)),
                rule=rule,
                score=parse_score(s.get("score", "0")),
                id=s.get("id", ""),
            )
        )
    return tuple(out)


def _rule(ctx: CibDocument, el: ET.Element) -> Rule:
    el = ctx.deref(el)
    conds = []
    for c in el:
        c = ctx.deref(c)
        if c.tag == "expression":
            conds.append(
                Expression(
                    attribute=c.get("attribute", ""),
                    operation=c.get("operation", "eq"),
                    value=c.get("value"),
                    type=c.get("type"),
                    value_source=c.get("value-source", "literal"),
                    id=c.get("id", ""),
                )
            )
        elif c.tag == "date_expression":
            spec_el = c.find("date_spec")
            dur_el = c.find("duration")
            conds.append(
                DateExpression(
                    operation=c.get("operation", "in_range"),
                    start=c.get("start"),
                    end=c.get("end"),
                    duration=frozen({k: v for k, v in dur_el.attrib.items() if k != "id"})
                    if dur_el is not None
                    else None,
                    date_spec=DateSpec(
                        frozen({k: v for k, v in spec_el.attrib.items() if k != "id"})
                    )
                    if spec_el is not None
                    else None,
                    id=c.get("id", ""),
                )
            )
        elif c.tag == "rsc_expression":
            conds.append(
                RscExpression(
                    agent_class=c.get("class"),
                    provider=c.get("provider"),
                    type=c.get("type"),
                    id=c.get("id", ""),
                )
            )
        elif c.tag == "op_expression":
            iv = c.get("interval")
            conds.append(
                OpExpression(
                    name=c.get("name", ""),
                    interval_ms=parse_interval_ms(iv) if iv is not None else None,
                    id=c.get("id", ""),
                )
            )
        elif c.tag == "rule":
            conds.append(_rule(ctx, c))
    score = el.get("score")
    return Rule(
        id=el.get("id", ""),
        boolean_op="or" if el.get("boolean-op", "and") == "or" else "and",
        conditions=tuple(conds),
        score=parse_score(score) if score is not None else None,
        score_attribute=el.get("score-attribute"),
        role=normalize_role(el.get("role")),
    )


def _operation(ctx: CibDocument, el: ET.Element) -> Operation:
    el = ctx.deref(el)
    meta = {
        k: v
        for k, v in el.attrib.items()
        if k not in ("id", "name", "interval", "timeout", "on-fail", "role", "enabled")
    }
    meta.update(_sets(ctx, el, "meta_attributes"))
    params = _sets(ctx, el, "instance_attributes")
    timeout = el.get("timeout", meta.pop("timeout", None))
    on_fail = el.get("on-fail", meta.pop("on-fail", None))
    enabled = el.get("enabled", meta.pop("enabled", "true"))
    return Operation(
        name=el.get("name", ""),
        interval_ms=parse_interval_ms(el.get("interval", "0")),
        timeout_ms=parse_interval_ms(timeout) if timeout else None,
        on_fail=on_fail,
        role=normalize_role(el.get("role")),
        enabled=parse_bool(enabled, True),
        meta=frozen(meta),
        id=el.get("id", ""),
        params=frozen(params),
    )


def _primitive(ctx: CibDocument, el: ET.Element) -> Primitive:
    el = ctx.deref(el)
    rid = el.get("id", "")
    cls = el.get("class")
    if cls is None:
        # A primitive based on a template (<template>) inherits class and type.
        tmpl_id = el.get("template")
        tmpl = ctx.by_id.get(tmpl_id or "")
        if tmpl is None:
            raise ctx.error(f"primitive {rid}", "has no class attribute",
                            'give it class="ocf" provider="heartbeat" type="..."')
        base = _primitive(ctx, tmpl)
        own = _primitive_fields(ctx, el, base.agent_class, base.provider, base.type)
        return Primitive(
            id=rid,
            agent_class=base.agent_class,
            provider=base.provider,
            type=base.type,
            params=frozen({**base.params, **own.params}),
            meta=frozen({**base.meta, **own.meta}),
            operations=own.operations or base.operations,
            utilization=frozen({**base.utilization, **own.utilization}),
        )
    return _primitive_fields(ctx, el, cls, el.get("provider"), el.get("type", ""))


def _primitive_fields(
    ctx: CibDocument, el: ET.Element, cls: str, provider: str | None, type_: str
) -> Primitive:
    ops_el = el.find("operations")
    ops: list[Operation] = []
    if ops_el is not None:
        ops_el = ctx.deref(ops_el)
        ops = [_operation(ctx, o) for o in ops_el.findall("op")]
    return Primitive(
        id=el.get("id", ""),
        agent_class=cls,
        provider=provider,
        type=type_,
        params=frozen(_sets(ctx, el, "instance_attributes")),
        meta=frozen(_sets(ctx, el, "meta_attributes")),
        operations=tuple(ops),
        utilization=frozen(_sets(ctx, el, "utilization")),
    )


def _resource(ctx: CibDocument, el: ET.Element, inherited: dict[str, str] | None = None):
    """`inherited`: instance attributes of the enclosing group/clone, which
    Pacemaker gives to every primitive inside as parameters (its own win; they
    are part of its digests, clone-anon-dup)."""
    tag = el.tag
    if tag == "primitive":
        prim = _primitive(ctx, el)
        if inherited:
            prim = replace(prim, params=frozen({**inherited, **prim.params}))
        return prim
    own = {**(inherited or {}), **_sets(ctx, el, "instance_attributes")}
    if tag == "group":
        members = tuple(_resource(ctx, m, own) for m in el.findall("primitive"))
        return Group(id=el.get("id", ""), members=members, meta=frozen(_sets(ctx, el, "meta_attributes")))
    if tag in ("clone", "master"):
        meta = _sets(ctx, el, "meta_attributes")
        child_el = next((c for c in el if c.tag in ("primitive", "group")), None)
        if child_el is None:
            raise ctx.error(f"clone {el.get('id')}", "has no primitive or group inside")
        child = _resource(ctx, child_el, own)
        promotable = tag == "master" or parse_bool(meta.get("promotable", "false"))
        return Clone(id=el.get("id", ""), child=child, meta=frozen(meta), promotable=promotable)
    return None


def _resource_sets(ctx: CibDocument, el: ET.Element) -> tuple[ResourceSet, ...]:
    out = []
    for s in el.findall("resource_set"):
        s = ctx.deref(s)
        score = s.get("score")
        seq = s.get("sequential")
        req = s.get("require-all")
        ordered = s.get("ordered")
        out.append(
            ResourceSet(
                id=s.get("id", ""),
                resources=tuple(ctx.deref(r).get("id", "") for r in s.findall("resource_ref")),
                sequential=parse_bool(seq) if seq is not None else True,
                require_all=parse_bool(req) if req is not None else True,
                action=s.get("action"),
                role=normalize_role(s.get("role")),
                score=parse_score(score) if score is not None else None,
                kind=s.get("kind"),
                ordered=parse_bool(ordered) if ordered is not None else None,
                ordering=s.get("ordering"),
            )
        )
    return tuple(out)


def _constraints(ctx: CibDocument, el: ET.Element | None):
    locs: list[Location] = []
    colos: list[Colocation] = []
    orders: list[Order] = []
    if el is None:
        return (), (), ()
    for c in el:
        c = ctx.deref(c)
        cid = c.get("id", "")
        if c.tag == "rsc_location":
            score = c.get("score")
            locs.append(
                Location(
                    id=cid,
                    rsc=c.get("rsc"),
                    rsc_pattern=c.get("rsc-pattern"),
                    node=c.get("node"),
                    score=parse_score(score) if score is not None else None,
                    rules=tuple(_rule(ctx, r) for r in c.findall("rule")),
                    role=normalize_role(c.get("role")),
                    resource_discovery=c.get("resource-discovery", "always"),
                    sets=_resource_sets(ctx, c),
                )
            )
        elif c.tag == "rsc_colocation":
            score = c.get("score")
            if score is None and c.get("score-attribute"):
                score = "0"
            colos.append(
                Colocation(
                    id=cid,
                    rsc=c.get("rsc"),
                    with_rsc=c.get("with-rsc"),
                    score=parse_score(score) if score is not None else 0,
                    rsc_role=normalize_role(c.get("rsc-role")),
                    with_rsc_role=normalize_role(c.get("with-rsc-role")),
                    node_attribute=c.get("node-attribute", "#uname"),
                    influence=parse_bool(c.get("influence", "true"), True),
                    sets=_resource_sets(ctx, c),
                )
            )
        elif c.tag == "rsc_order":
            score = c.get("score")
            kind = c.get("kind")
            if kind is None:
                if score is not None and parse_score(score) <= 0:
                    kind = "Optional"
                else:
                    kind = "Mandatory"
            if kind not in ("Mandatory", "Optional", "Serialize"):
                kind = "Mandatory"  # Pacemaker reads an unknown kind as Mandatory
            sym = c.get("symmetrical")
            first_action = c.get("first-action", "start")
            orders.append(
                Order(
                    id=cid,
                    first=c.get("first"),
                    then=c.get("then"),
                    first_action=first_action,
                    then_action=c.get("then-action"),
                    kind=kind,
                    symmetrical=parse_bool(sym) if sym is not None else None,
                    score=parse_score(score) if score is not None else None,
                    sets=_resource_sets(ctx, c),
                    require_all=parse_bool(c.get("require-all", "true"), True),
                )
            )
    return tuple(locs), tuple(colos), tuple(orders)


def _read_configuration(ctx: CibDocument, config: ET.Element) -> Definition:
    props: dict[str, str] = {}
    crm = config.find("crm_config")
    if crm is not None:
        for s in crm.findall("cluster_property_set"):
            for k, v in _nvpairs(ctx, s).items():
                props.setdefault(k, v)
    nodes = []
    nodes_el = config.find("nodes")
    if nodes_el is not None:
        for n in nodes_el.findall("node"):
            attrs = _sets(ctx, n, "instance_attributes")
            nodes.append(
                Node(
                    name=n.get("uname") or n.get("id", ""),
                    id=n.get("id", ""),
                    type=n.get("type", "member") if n.get("type") != "normal" else "member",
                    attributes=frozen(attrs),
                    utilization=frozen(_sets(ctx, n, "utilization")),
                )
            )
    resources = []
    res_el = config.find("resources")
    if res_el is not None:
        for r in res_el:
            res = _resource(ctx, r)
            if res is not None:
                resources.append(res)
    locs, colos, orders = _constraints(ctx, config.find("constraints"))
    return Definition(
        nodes=tuple(nodes),
        resources=tuple(resources),
        locations=locs,
        colocations=colos,
        orders=orders,
        properties=frozen(props),
        rsc_defaults=_nvsets(ctx, config.find("rsc_defaults")),
        op_defaults=_nvsets(ctx, config.find("op_defaults")),
    )
