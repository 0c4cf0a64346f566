"""`pacer config`: check, show and convert cluster configurations (YAML or CIB XML),
and push, show and edit the live cluster's definition."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import sys
from collections.abc import Mapping
from pathlib import Path

from pacer.cli.live import CONNECTION_HELP, EXIT_HELP, add_connection_arguments
from pacer.model.definition import (
    Clone,
    Colocation,
    DateExpression,
    Definition,
    Expression,
    Group,
    Location,
    OpExpression,
    Order,
    Primitive,
    Resource,
    ResourceSet,
    RscExpression,
    Rule,
)
from pacer.model.errors import ConfigError, Problem
from pacer.model.meta import format_score
from pacer.status.cib import export_cib
from pacer.status.fresh import all_online_status
from pacer.status.load import load_snapshot
from pacer.status.types import Status

FORMATTER = argparse.RawDescriptionHelpFormatter


# --------------------------------------------------------------------------- loading


def load_config_file(
    path: str | Path, warnings: list[Problem] | None = None
) -> tuple[Definition, Status, str]:
    """Load and validate a YAML or CIB file: (definition, status, "yaml"|"cib").

    Raises ConfigError when the file cannot be read or has errors; warnings go to
    `warnings` if given. (The one loader, `pacer.status.load`, with validation.)
    """
    snap = load_snapshot(path, validate=True, warnings=warnings)
    return snap.definition, snap.status, snap.kind


def _print_problems(problems: list[Problem], file=None) -> None:
    file = file or sys.stderr
    for p in problems:
        print(p, file=file)


def _handles_config_errors(func):
    """Print a ConfigError's problems (no traceback) and exit 1."""

    @functools.wraps(func)
    def wrapper(args: argparse.Namespace) -> int:
        try:
            return func(args)
        except ConfigError as exc:
            _print_problems(exc.problems)
            errors = len(exc.errors)
            if errors:
                noun = "error" if errors == 1 else "errors"
                print(f"pacer config: {errors} {noun}", file=sys.stderr)
            return 1
        except BrokenPipeError:
            raise
        except OSError as exc:
            print(f"pacer config: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
            return 1

    return wrapper


def _write_output(text: str, output: str | None) -> None:
    if output is None or output == "-":
        sys.stdout.write(text)
    else:
        Path(output).write_text(text, encoding="utf-8")


def _counts(defn: Definition) -> tuple[int, int, int]:
    constraints = len(defn.locations) + len(defn.colocations) + len(defn.orders)
    return len(defn.nodes), len(defn.resources), constraints


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# --------------------------------------------------------------------------- validate


@_handles_config_errors
def cmd_validate(args: argparse.Namespace) -> int:
    warnings: list[Problem] = []
    defn, _status, _kind = load_config_file(args.file, warnings)
    _print_problems(warnings)
    nodes, resources, constraints = _counts(defn)
    if warnings and args.strict:
        print(f"{args.file}: {_plural(len(warnings), 'warning')} (--strict)", file=sys.stderr)
        return 1
    print(f"{args.file}: valid ({_plural(nodes, 'node')}, {_plural(resources, 'resource')}, "
          f"{_plural(constraints, 'constraint')})")
    return 0


# --------------------------------------------------------------------------- show


def _kv(values: Mapping[str, str]) -> str:
    return " ".join(f"{k}={v}" for k, v in values.items())


def _resource_lines(r: Resource, indent: str) -> list[str]:
    if isinstance(r, Primitive):
        line = f"{indent}{r.id} ({r.agent})"
        extras = []
        if r.params:
            extras.append(_kv(r.params))
        if r.meta:
            extras.append(f"meta: {_kv(r.meta)}")
        if extras:
            line += "  " + "; ".join(extras)
        lines = [line]
        for op in r.operations:
            parts = [op.name]
            if op.interval_ms:
                parts.append(f"every {op.interval_ms / 1000:g}s")
            if op.timeout_ms is not None:
                parts.append(f"timeout {op.timeout_ms / 1000:g}s")
            if op.role:
                parts.append(f"role {op.role}")
            if op.on_fail:
                parts.append(f"on-fail {op.on_fail}")
            if not op.enabled:
                parts.append("disabled")
            lines.append(f"{indent}    op " + ", ".join(parts))
        return lines
    if isinstance(r, Group):
        head = f"{indent}{r.id}: group of {_plural(len(r.members), 'member')}"
        if r.meta:
            head += f"  meta: {_kv(r.meta)}"
        lines = [head]
        for m in r.members:
            lines.extend(_resource_lines(m, indent + "  "))
        return lines
    assert isinstance(r, Clone)
    kind = "promotable clone" if r.promotable else "clone"
    head = f"{indent}{r.id}: {kind} of {r.child.id}"
    if r.meta:
        head += f"  meta: {_kv(r.meta)}"
    return [head, *_resource_lines(r.child, indent + "  ")]


def _sets_text(sets: tuple[ResourceSet, ...], sep: str) -> str:
    parts = []
    for s in sets:
        inner = " ".join(s.resources)
        tags = []
        if s.action:
            tags.append(s.action)
        if s.role:
            tags.append(s.role)
        if not s.sequential:
            tags.append("unordered")
        if not s.require_all:
            tags.append("any")
        parts.append(f"({inner}{'; ' + ', '.join(tags) if tags else ''})")
    return f" {sep} ".join(parts)


def _condition_text(c) -> str:
    if isinstance(c, Rule):
        return f"({_rule_text(c, with_score=False)})"
    if isinstance(c, Expression):
        value = f" {c.value}" if c.value is not None else ""
        return f"{c.attribute} {c.operation}{value}"
    if isinstance(c, DateExpression):
        if c.operation == "date_spec" and c.date_spec is not None:
            return f"date matches {_kv(c.date_spec.fields)}"
        parts = [f"date {c.operation}"]
        if c.start:
            parts.append(f"from {c.start}")
        if c.end:
            parts.append(f"to {c.end}")
        if c.duration:
            parts.append(f"for {_kv(c.duration)}")
        return " ".join(parts)
    if isinstance(c, OpExpression):
        every = f" every {c.interval_ms / 1000:g}s" if c.interval_ms is not None else ""
        return f"operation {c.name}{every}"
    assert isinstance(c, RscExpression)
    agent = ":".join(x for x in (c.agent_class, c.provider, c.type) if x)
    return f"agent {agent or '*'}"


def _rule_text(r: Rule, with_score: bool = True) -> str:
    text = f" {r.boolean_op} ".join(_condition_text(c) for c in r.conditions)
    if not with_score:
        return text
    score = (format_score(r.score) if r.score is not None
             else f"score-attribute {r.score_attribute}")
    return f"{score} if {text}"


def _constraint_line(c: Location | Colocation | Order) -> str:
    if isinstance(c, Location):
        target = c.rsc or (f"/{c.rsc_pattern}/" if c.rsc_pattern else _sets_text(c.sets, "and"))
        role = f" ({c.role})" if c.role else ""
        if c.rules:
            what = "; ".join(_rule_text(r) for r in c.rules)
            return f"location    {target}{role}: {what}  [{c.id}]"
        score = c.score if c.score is not None else 0
        verb = "avoids" if score < 0 else "prefers"
        return f"location    {target}{role} {verb} {c.node} ({format_score(score)})  [{c.id}]"
    if isinstance(c, Colocation):
        if c.sets:
            body = _sets_text(c.sets, "with")
        else:
            rr = f" ({c.rsc_role})" if c.rsc_role else ""
            wr = f" ({c.with_rsc_role})" if c.with_rsc_role else ""
            body = f"{c.rsc}{rr} with {c.with_rsc}{wr}"
        return f"colocation  {body} ({format_score(c.score)})  [{c.id}]"
    if c.sets:
        body = _sets_text(c.sets, "then")
    else:
        then_action = c.then_action or c.first_action
        body = f"{c.first_action} {c.first} then {then_action} {c.then}"
    sym = "" if c.symmetrical is None else (", symmetrical" if c.symmetrical else ", one-way")
    return f"order       {body} ({c.kind}{sym})  [{c.id}]"


def show_text(defn: Definition, name: str = "") -> str:
    nodes, resources, constraints = _counts(defn)
    lines = []
    if name:
        lines.append(f"{name}: {_plural(nodes, 'node')}, {_plural(resources, 'resource')}, "
                     f"{_plural(constraints, 'constraint')}")
        lines.append("")
    if defn.properties:
        lines.append("Cluster properties:")
        lines.extend(f"  {k} = {v}" for k, v in defn.properties.items())
        lines.append("")
    for title, sets in (("Resource defaults", defn.rsc_defaults),
                        ("Operation defaults", defn.op_defaults)):
        if sets:
            lines.append(f"{title}:")
            for s in sets:
                cond = f"  (when {_rule_text(s.rule, with_score=False)})" if s.rule else ""
                lines.append(f"  {_kv(s.values)}{cond}")
            lines.append("")
    lines.append(f"Nodes ({nodes}):")
    for n in defn.nodes:
        extra = []
        if n.type != "member":
            extra.append(n.type)
        if n.attributes:
            extra.append(_kv(n.attributes))
        if n.utilization:
            extra.append(f"utilization: {_kv(n.utilization)}")
        lines.append(f"  {n.name}" + (f"  {'; '.join(extra)}" if extra else ""))
    lines.append("")
    lines.append(f"Resources ({resources}):")
    for r in defn.resources:
        lines.extend(_resource_lines(r, "  "))
    lines.append("")
    lines.append(f"Constraints ({constraints}):")
    for c in (*defn.locations, *defn.colocations, *defn.orders):
        lines.append("  " + _constraint_line(c))
    return "\n".join(lines) + "\n"


def to_jsonable(obj):
    """Definition objects as JSON data: dataclasses become objects with an "@type" key."""
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out = {"@type": type(obj).__name__}
        for f in dataclasses.fields(obj):
            if f.name == "origins":
                continue
            out[f.name] = to_jsonable(getattr(obj, f.name))
        if isinstance(obj, Primitive):
            out["agent"] = obj.agent
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x) for x in obj]
    return obj


@_handles_config_errors
def cmd_show(args: argparse.Namespace) -> int:
    if args.file is None:
        from pacer.cli.live import run_live

        return run_live(args, lambda cs: _show_live(cs, args))
    if args.format not in (None, "text"):
        raise ConfigError(Problem(None, None, "", f"--format {args.format} is for the live "
                                  "cluster (no FILE)", "for a file: pacer config export-cib "
                                  "FILE, or read the YAML itself"))
    warnings: list[Problem] = []
    defn, _status, kind = load_config_file(args.file, warnings)
    if args.json:
        nodes, resources, constraints = _counts(defn)
        data = {
            "file": str(args.file),
            "format": kind,
            "counts": {"nodes": nodes, "resources": resources, "constraints": constraints},
            "warnings": [str(w) for w in warnings],
            "definition": to_jsonable(defn),
        }
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    _print_problems(warnings)
    sys.stdout.write(show_text(defn, str(args.file)))
    return 0


# --------------------------------------------------------------------------- conversions


@_handles_config_errors
def cmd_import_cib(args: argparse.Namespace) -> int:
    from pacer.model.yaml_export import export_yaml

    warnings: list[Problem] = []
    defn, _status, kind = load_config_file(args.cib, warnings)
    if kind != "cib":
        raise ConfigError(Problem(str(args.cib), None, "", "this is not CIB XML",
                                  "import-cib reads a Pacemaker CIB (cibadmin --query)"))
    _print_problems(warnings)
    header = (f"Imported from {Path(args.cib).name} by `pacer config import-cib`.\n"
              "Only the configuration is imported; the CIB's status section is not.")
    _write_output(export_yaml(defn, header=header), args.output)
    if args.output not in (None, "-"):
        nodes, resources, constraints = _counts(defn)
        print(f"{args.output}: written ({_plural(nodes, 'node')}, "
              f"{_plural(resources, 'resource')}, {_plural(constraints, 'constraint')})",
              file=sys.stderr)
    return 0


@_handles_config_errors
def cmd_export_cib(args: argparse.Namespace) -> int:
    warnings: list[Problem] = []
    defn, status, kind = load_config_file(args.file, warnings)
    _print_problems(warnings)
    if args.online:
        status = all_online_status(defn)
    elif kind == "yaml":
        status = None
    _write_output(export_cib(defn, status), args.output)
    return 0


# --------------------------------------------------------------------------- the live cluster


async def _show_live(cs, args: argparse.Namespace) -> int:
    snap = await cs.snapshot()
    if snap.definition is None:
        print("pacer config: no definition is stored in cluster "
              f"{args.cluster!r}; push one: pacer config push cluster.yaml", file=sys.stderr)
        return 1
    defn, text = snap.definition.definition, snap.definition.text
    fmt = args.format or ("json" if args.json else "yaml")
    if fmt == "yaml":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    elif fmt == "cib":
        # With the live status, so `crm_simulate -x` replays the cluster as it is.
        sys.stdout.write(export_cib(defn, snap.status))
    elif fmt == "json":
        nodes, resources, constraints = _counts(defn)
        json.dump({"cluster": args.cluster, "revision": snap.definition.revision,
                   "counts": {"nodes": nodes, "resources": resources,
                              "constraints": constraints},
                   "definition": to_jsonable(defn)}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(show_text(defn, f"cluster {args.cluster!r} (revision "
                                         f"{snap.definition.revision})"))
    return 0


def _yaml_text_of(path: str, warnings: list[Problem]) -> tuple[str, Definition]:
    """The YAML to store for a file: the file itself, or a CIB converted to YAML.
    Raises ConfigError with the file's own name and lines."""
    defn, _status, kind = load_config_file(path, warnings)
    if kind == "yaml":
        return Path(path).read_text(encoding="utf-8"), defn
    from pacer.model.yaml_export import export_yaml

    return export_yaml(defn, header=f"Imported from {Path(path).name} by `pacer config "
                                    "push`."), defn


async def _push(cs, args: argparse.Namespace, text: str, defn: Definition, source: str,
                expected: int | None) -> int:
    """Store `text` with compare-and-swap; 0 when stored (or identical), 1 on conflict."""
    from pacer.store.cluster import DefinitionConflict

    current = await cs.definition()
    base = current.revision if current else 0
    if expected is not None and expected != base:
        print(f"pacer config: {source} was based on definition revision {expected}, but the "
              f"cluster is at revision {base} now: someone changed it meanwhile; nothing "
              "was stored. Look at `pacer config show`, merge, and push again.",
              file=sys.stderr)
        return 1
    nodes, resources, constraints = _counts(defn)
    counts = (f"{_plural(nodes, 'node')}, {_plural(resources, 'resource')}, "
              f"{_plural(constraints, 'constraint')}")
    if current is not None and current.text == text:
        print(f"{source}: identical to the stored definition (revision {base}); unchanged")
        return 0
    if args.dry_run:
        print(f"{source}: valid ({counts}); not stored (--dry-run)")
        return 0
    try:
        revision = await cs.put_definition(text, base)
    except DefinitionConflict as exc:
        print(f"pacer config: someone changed the definition while {source} was being "
              f"stored (revision {exc.expected} -> {exc.current}); nothing was stored. "
              "Look at `pacer config show`, merge, and push again.", file=sys.stderr)
        return 1
    print(f"{source}: stored as definition revision {revision} ({counts}); "
          f"was {'revision ' + str(base) if base else 'empty'}")
    return 0


@_handles_config_errors
def cmd_push(args: argparse.Namespace) -> int:
    from pacer.cli.live import run_live

    warnings: list[Problem] = []
    text, defn = _yaml_text_of(args.file, warnings)  # validated before anything is sent
    _print_problems(warnings)
    if warnings and args.strict:
        print(f"{args.file}: {_plural(len(warnings), 'warning')} (--strict); nothing stored",
              file=sys.stderr)
        return 1
    return run_live(args, lambda cs: _push(cs, args, text, defn, str(args.file),
                                           args.expect_revision))


async def _edit(cs, args: argparse.Namespace) -> int:
    import os
    import shlex
    import subprocess
    import tempfile

    stored = await cs.definition()
    base = stored.revision if stored else 0
    original = stored.text if stored else EDIT_TEMPLATE
    fd, path = tempfile.mkstemp(prefix=f"pacer-{args.cluster}-", suffix=".yaml")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(original)
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    try:
        rc = subprocess.call([*shlex.split(editor), path])
    except OSError as exc:
        os.unlink(path)
        print(f"pacer config: cannot run the editor {editor!r} ($VISUAL/$EDITOR): "
              f"{exc.strerror}", file=sys.stderr)
        return 1
    text = Path(path).read_text(encoding="utf-8")
    if rc != 0:
        print(f"pacer config: the editor exited with status {rc}; nothing was stored. "
              f"Your text is kept in {path}", file=sys.stderr)
        return 1
    if text == original:
        os.unlink(path)
        print(f"no changes; definition revision {base} unchanged")
        return 0
    warnings: list[Problem] = []
    try:
        defn, _status, _kind = load_config_file(path, warnings)
    except ConfigError as exc:
        _print_problems(exc.problems)
        print(f"pacer config: {_plural(len(exc.errors), 'error')}; nothing was stored. "
              f"Your edit is kept in {path}: fix it and run `pacer config push {path} "
              f"--expect-revision {base}`", file=sys.stderr)
        return 1
    _print_problems(warnings)
    code = await _push(cs, args, text, defn, "your edit", base)
    if code == 0:
        os.unlink(path)
    else:
        print(f"Your edit is kept in {path}", file=sys.stderr)
    return code


def cmd_edit(args: argparse.Namespace) -> int:
    from pacer.cli.live import run_live

    args.dry_run = False
    return run_live(args, lambda cs: _edit(cs, args))


EDIT_TEMPLATE = """\
# No definition is stored yet. Write one (see docs/configuration.md), e.g.:
#
# nodes: [node1, node2, node3]
# resources:
#   - {id: vip, agent: "ocf:heartbeat:IPaddr2", params: {ip: 192.0.2.10}}
"""


# --------------------------------------------------------------------------- parser


VALIDATE_EPILOG = """\
Exit status: 0 when the configuration is valid (warnings are printed but
accepted, unless --strict), 1 when it is not.

Examples:
  pacer config validate cluster.yaml
  pacer config validate --strict cluster.yaml
  pacer config validate /var/lib/pacemaker/cib/cib.xml
"""

SHOW_EPILOG = """\
Without FILE, the definition stored in the live cluster is shown: --format
yaml (default) prints the stored YAML as it was pushed, comments included;
cib the CIB XML with the cluster's live status (for crm_simulate -x); text a
summary in words; json (or --json) the definition as data.

Examples:
  pacer config show examples/demo.yaml
  pacer config show --json cib.xml | jq '.definition.resources[].id'
  pacer config show                       the live cluster's YAML
  pacer config show --format cib > live.xml && crm_simulate -x live.xml -S
"""

PUSH_EPILOG = """\
FILE is validated first; a file with errors changes nothing, and every
problem is reported as FILE:LINE: at FIELD: what is wrong; what is valid. A
CIB (XML) is converted to YAML. The write is a compare-and-swap on the
definition's revision, so two concurrent pushes never silently overwrite each
other: the loser is told and stores nothing. --expect-revision N refuses to
store unless the cluster is still at revision N (what you based FILE on).

Examples:
  pacer config push cluster.yaml
  pacer config push --dry-run cluster.yaml
  pacer config push cib.xml
  pacer config push cluster.yaml --expect-revision 42
"""

EDIT_EPILOG = """\
Opens the stored YAML in $VISUAL or $EDITOR (default vi). On save and exit the
text is validated and stored with compare-and-swap on the revision you
started from. Nothing is stored when the editor exits with an error, the
text has errors (they are printed; your edit is kept in a file you can fix
and push), or someone else changed the definition meanwhile.

Examples:
  pacer config edit
  EDITOR=nano pacer config edit --cluster prod
"""

IMPORT_EPILOG = """\
The YAML written reads back into the same definition; ids that pacer would
generate anyway are left out. The status section of the CIB (what runs where)
is not part of the YAML configuration.

Examples:
  cibadmin --query > cib.xml && pacer config import-cib cib.xml -o cluster.yaml
  pacer config import-cib cib.xml | less
"""

EXPORT_EPILOG = """\
The CIB is accepted by Pacemaker's tools, so a pacer configuration can be
checked against the real scheduler:

  pacer config export-cib examples/demo.yaml --online -o demo.xml
  CIB_shadow_dir=$(mktemp -d) crm_simulate -x demo.xml -S

Examples:
  pacer config export-cib cluster.yaml -o cluster.xml
  pacer config export-cib cluster.yaml | crm_verify --xml-pipe
"""

CONFIG_DESCRIPTION = """\
Check, show and convert pacer cluster configurations; push, show and edit the
definition of the live cluster (push, show without FILE, edit).

A configuration is either pacer YAML (see docs/configuration.md) or a Pacemaker
CIB in XML (a file ending in .xml, or whose content starts with '<'). Problems
are reported as FILE:LINE: at FIELD.PATH: what is wrong; what would be valid.
"""


def register(subparsers) -> None:
    config = subparsers.add_parser(
        "config",
        help="check, show and convert cluster configurations (YAML or CIB XML)",
        description=CONFIG_DESCRIPTION,
        formatter_class=FORMATTER,
        epilog="Run 'pacer config COMMAND --help' for the options of each command.",
    )
    sub = config.add_subparsers(dest="config_command", metavar="COMMAND")
    config.set_defaults(func=lambda args: (config.print_help(), 2)[1])

    p = sub.add_parser(
        "validate",
        help="check a configuration and report every problem",
        description="Load a YAML or CIB configuration, check its structure and meaning "
                    "(unknown keys, bad values, references to unknown resources, cycles of "
                    "mandatory orders, ...) and report every problem with its file, line "
                    "and field.",
        epilog=VALIDATE_EPILOG,
        formatter_class=FORMATTER,
    )
    p.add_argument("file", metavar="FILE", help="a pacer YAML file or a CIB XML file")
    p.add_argument("--strict", action="store_true", help="treat warnings as errors (exit 1)")
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser(
        "show",
        help="summarise nodes, resources and constraints",
        description="Print a readable summary of a configuration: cluster properties, "
                    "defaults, nodes, the resource tree with operations, and every "
                    "constraint in words.",
        epilog=SHOW_EPILOG,
        formatter_class=FORMATTER,
    )
    p.add_argument("file", metavar="FILE", nargs="?",
                   help="a pacer YAML file or a CIB XML file (none: the live cluster's)")
    p.add_argument("--json", action="store_true",
                   help="print the whole definition as JSON (machine-readable)")
    p.add_argument("--format", choices=("yaml", "cib", "text", "json"),
                   help="live cluster only: yaml (default), cib, text or json")
    add_connection_arguments(p)
    p.set_defaults(func=cmd_show)

    p = sub.add_parser(
        "push",
        help="validate a configuration and store it in the live cluster",
        description="Validate FILE (pacer YAML or a CIB) and store it as the live "
                    "cluster's definition; the controller acts on it at once.",
        epilog=PUSH_EPILOG + "\n" + CONNECTION_HELP + "\n" + EXIT_HELP,
        formatter_class=FORMATTER,
    )
    p.add_argument("file", metavar="FILE", help="a pacer YAML file or a CIB XML file")
    p.add_argument("--dry-run", action="store_true", help="validate only; store nothing")
    p.add_argument("--strict", action="store_true", help="refuse a file with warnings too")
    p.add_argument("--expect-revision", type=int, metavar="N",
                   help="store only if the definition is still at revision N")
    add_connection_arguments(p)
    p.set_defaults(func=cmd_push)

    p = sub.add_parser(
        "edit",
        help="edit the live cluster's definition in $EDITOR",
        description="Edit the live cluster's stored definition in your editor; it is "
                    "validated and stored when you save and exit.",
        epilog=EDIT_EPILOG + "\n" + CONNECTION_HELP + "\n" + EXIT_HELP,
        formatter_class=FORMATTER,
    )
    p.add_argument("--strict", action="store_true", help=argparse.SUPPRESS)
    add_connection_arguments(p)
    p.set_defaults(func=cmd_edit)

    p = sub.add_parser(
        "import-cib",
        help="convert a Pacemaker CIB to pacer YAML",
        description="Read the configuration section of a Pacemaker CIB and write it as "
                    "pacer YAML.",
        epilog=IMPORT_EPILOG,
        formatter_class=FORMATTER,
    )
    p.add_argument("cib", metavar="CIB.xml", help="the CIB to convert")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the YAML to FILE instead of standard output")
    p.set_defaults(func=cmd_import_cib)

    p = sub.add_parser(
        "export-cib",
        help="convert a pacer configuration to a Pacemaker CIB",
        description="Write a configuration as a Pacemaker CIB (schema pacemaker-3.7). "
                    "From YAML the status section is empty (no node has joined yet) "
                    "unless --online is given; from a CIB it is kept.",
        epilog=EXPORT_EPILOG,
        formatter_class=FORMATTER,
    )
    p.add_argument("file", metavar="FILE", help="a pacer YAML file (or a CIB to normalise)")
    p.add_argument("-o", "--output", metavar="FILE",
                   help="write the XML to FILE instead of standard output")
    p.add_argument("--online", action="store_true",
                   help="write a status in which every node is online and nothing runs")
    p.set_defaults(func=cmd_export_cib)
