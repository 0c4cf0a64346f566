"""Agent meta-data XML (OCF resource agents and fence agents) as typed data.

Shape and quirks: `shared/ocf-agents.md` §2. Notably there is no explicit
promotable or migratable flag: they are inferred from the actions advertised.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from pacer.agents.api import AgentError
from pacer.model.meta import parse_interval_ms


class MetadataError(AgentError):
    """The agent's meta-data could not be read or parsed."""


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    type: str = "string"
    default: str | None = None
    required: bool = False
    unique: bool = False
    unique_group: str | None = None
    reloadable: bool = False
    deprecated: bool = False
    shortdesc: str = ""
    longdesc: str = ""
    # Fence agents: the names the parameter is also known by on the command line.
    getopt: str | None = None


@dataclass(frozen=True)
class ActionSpec:
    name: str
    timeout_ms: int | None = None
    interval_ms: int | None = None
    depth: int | None = None
    role: str | None = None


@dataclass(frozen=True)
class AgentMetadata:
    name: str
    version: str = ""
    ocf_version: str = ""
    shortdesc: str = ""
    longdesc: str = ""
    parameters: tuple[ParameterSpec, ...] = ()
    actions: tuple[ActionSpec, ...] = ()

    def parameter(self, name: str) -> ParameterSpec | None:
        return next((p for p in self.parameters if p.name == name), None)

    def has_action(self, name: str) -> bool:
        return any(a.name == name for a in self.actions)

    def default_timeout_ms(self, action: str, interval_ms: int = 0) -> int | None:
        """The advertised timeout: the same interval if listed, else the first entry."""
        entries = [a for a in self.actions if a.name == action and a.timeout_ms is not None]
        for a in entries:
            if (a.interval_ms or 0) == interval_ms:
                return a.timeout_ms
        return entries[0].timeout_ms if entries else None

    @property
    def promotable(self) -> bool:
        return self.has_action("promote") and self.has_action("demote")

    @property
    def migratable(self) -> bool:
        return self.has_action("migrate_to") and self.has_action("migrate_from")

    @property
    def reload_agent(self) -> bool:
        return self.has_action("reload-agent")

    @property
    def required_parameters(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.parameters if p.required)


def _flag(el: ET.Element, attr: str) -> bool:
    return (el.get(attr) or "0").strip().lower() in ("1", "true", "yes")


def _text(el: ET.Element | None) -> str:
    if el is None:
        return ""
    return " ".join("".join(el.itertext()).split())


def _desc(el: ET.Element, tag: str) -> str:
    # English first; descriptions may come in several languages.
    found = el.findall(tag)
    for d in found:
        if d.get("lang", "en") == "en":
            return _text(d)
    return _text(found[0]) if found else el.get(tag, "")


def _ms(value: str | None) -> int | None:
    if value is None or not value.strip():
        return None
    try:
        return parse_interval_ms(value.strip(), lenient=True)
    except ValueError:
        return None


def parse_metadata(xml_text: str) -> AgentMetadata:
    """Parse `<resource-agent>` meta-data; raises MetadataError on anything else."""
    try:
        root = ET.fromstring(xml_text.strip())
    except ET.ParseError as exc:
        raise MetadataError(f"meta-data is not well-formed XML: {exc}") from None
    if root.tag != "resource-agent":
        raise MetadataError(f"meta-data root is <{root.tag}>, expected <resource-agent>")
    params = []
    for p in root.iterfind("parameters/parameter"):
        content = p.find("content")
        getopt = p.find("getopt")
        params.append(ParameterSpec(
            name=p.get("name", ""),
            type=(content.get("type", "string") if content is not None else "string"),
            default=content.get("default") if content is not None else None,
            required=_flag(p, "required"),
            unique=_flag(p, "unique"),
            unique_group=p.get("unique-group"),
            reloadable=_flag(p, "reloadable"),
            # OCF 1.1 writes <deprecated/>; fence agents write deprecated="1".
            deprecated=_flag(p, "deprecated") or p.find("deprecated") is not None,
            shortdesc=_desc(p, "shortdesc"),
            longdesc=_desc(p, "longdesc"),
            getopt=getopt.get("mixed") if getopt is not None else None,
        ))
    actions = []
    for a in root.iterfind("actions/action"):
        depth = a.get("depth")
        actions.append(ActionSpec(
            name=a.get("name", ""),
            timeout_ms=_ms(a.get("timeout")),
            interval_ms=_ms(a.get("interval")),
            depth=int(depth) if depth and depth.strip().isdigit() else None,
            role=a.get("role"),
        ))
    return AgentMetadata(
        name=root.get("name", ""),
        version=root.get("version", ""),
        ocf_version=_text(root.find("version")),
        shortdesc=_desc(root, "shortdesc"),
        longdesc=_desc(root, "longdesc"),
        parameters=tuple(params),
        actions=tuple(actions),
    )


def synthesize_metadata(name: str, shortdesc: str, longdesc: str,
                        actions: dict[str, int]) -> AgentMetadata:
    """Meta-data for agents that have none of their own (systemd units, LSB scripts)."""
    return AgentMetadata(
        name=name, version="1.0", ocf_version="1.1", shortdesc=shortdesc, longdesc=longdesc,
        actions=tuple(ActionSpec(name=a, timeout_ms=t,
                                 interval_ms=60_000 if a == "monitor" else None)
                      for a, t in actions.items()),
    )


def metadata_xml(md: AgentMetadata) -> str:
    """OCF meta-data XML for a description (the built-in agents print this)."""
    root = ET.Element("resource-agent", name=md.name, version=md.version)
    ET.SubElement(root, "version").text = md.ocf_version or "1.1"
    ET.SubElement(root, "longdesc", lang="en").text = md.longdesc
    ET.SubElement(root, "shortdesc", lang="en").text = md.shortdesc
    params = ET.SubElement(root, "parameters")
    for p in md.parameters:
        attrs = {"name": p.name, "required": str(int(p.required)), "unique": str(int(p.unique))}
        if p.reloadable:
            attrs["reloadable"] = "1"
        el = ET.SubElement(params, "parameter", attrs)
        ET.SubElement(el, "longdesc", lang="en").text = p.longdesc or p.shortdesc
        ET.SubElement(el, "shortdesc", lang="en").text = p.shortdesc
        content = {"type": p.type}
        if p.default is not None:
            content["default"] = p.default
        ET.SubElement(el, "content", content)
    acts = ET.SubElement(root, "actions")
    for a in md.actions:
        attrs = {"name": a.name}
        if a.timeout_ms is not None:
            attrs["timeout"] = f"{a.timeout_ms // 1000}s"
        if a.interval_ms is not None:
            attrs["interval"] = f"{a.interval_ms // 1000}s"
        if a.depth is not None:
            attrs["depth"] = str(a.depth)
        if a.role is not None:
            attrs["role"] = a.role
        ET.SubElement(acts, "action", attrs)
    ET.indent(root)
    return '<?xml version="1.0"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
