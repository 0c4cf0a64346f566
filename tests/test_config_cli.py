"""`pacer config ...`: exit codes, output, and problems printed without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from pacer.cli.main import main
from pacer.model.yaml_loader import load_yaml

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO = str(EXAMPLES / "demo.yaml")
OPENSTACK = str(EXAMPLES / "openstack.yaml")


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["config", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def write(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


# --------------------------------------------------------------------------- validate


def test_validate_examples(capsys):
    code, out, err = run(capsys, "validate", DEMO)
    assert code == 0, err
    assert out == f"{DEMO}: valid (3 nodes, 3 resources, 5 constraints)\n"
    assert err == ""
    code, out, _ = run(capsys, "validate", OPENSTACK)
    assert code == 0 and "valid (3 nodes, 10 resources, 18 constraints)" in out


def test_validate_reports_problems_and_exits_1(capsys, tmp_path):
    bad = write(tmp_path, "bad.yaml", "resources:\n  - id: a\n    agent: systemd:a\n"
                "    meta: {migration-threshold: abc}\n")
    code, out, err = run(capsys, "validate", bad)
    assert code == 1
    assert out == ""
    assert (f"{bad}:4: at resources[0].meta.migration-threshold: 'abc' is not a valid score; "
            "expected an integer, INFINITY, +INFINITY or -INFINITY") in err
    assert "Traceback" not in err
    assert err.rstrip().endswith("pacer config: 1 error")


def test_validate_malformed_yaml(capsys, tmp_path):
    bad = write(tmp_path, "bad.yaml", "resources:\n  - id: a\n   agent: x\n")
    code, _, err = run(capsys, "validate", bad)
    assert code == 1
    assert f"{bad}:3: invalid YAML" in err
    assert "Traceback" not in err


def test_validate_warnings_and_strict(capsys, tmp_path):
    text = ("cluster: {stonith-enabled: false}\nnodes: [n1]\nresources: [{id: a, agent: 'systemd:a'}]\n"
            "constraints:\n  - location: {rsc: a, node: n2, score: 5}\n")
    path = write(tmp_path, "w.yaml", text)
    code, out, err = run(capsys, "validate", path)
    assert code == 0 and "valid (1 node, 1 resource, 1 constraint)" in out
    assert f"{path}:5: warning: at constraints[0].location.node: unknown node 'n2'" in err
    code, out, err = run(capsys, "validate", "--strict", path)
    assert code == 1 and out == "" and "1 warning (--strict)" in err


def test_validate_missing_file(capsys, tmp_path):
    code, _, err = run(capsys, "validate", str(tmp_path / "nope.yaml"))
    assert code == 1 and "nope.yaml: no such file" in err
    code, _, err = run(capsys, "validate", str(tmp_path))
    assert code == 1 and "is a directory" in err


def test_validate_cib(capsys, tmp_path):
    xml = tmp_path / "demo.xml"
    assert run(capsys, "export-cib", DEMO, "-o", str(xml))[0] == 0
    code, out, err = run(capsys, "validate", str(xml))
    assert code == 0, err
    assert out == f"{xml}: valid (3 nodes, 3 resources, 5 constraints)\n"
    # a CIB detected by content, whatever its name
    renamed = tmp_path / "cib.txt"
    renamed.write_text(xml.read_text())
    assert run(capsys, "validate", str(renamed))[0] == 0


def test_validate_bad_cib(capsys, tmp_path):
    bad = write(tmp_path, "bad.xml", "<cib><configuration><resources>\n<primitive id='a'\n")
    code, _, err = run(capsys, "validate", bad)
    assert code == 1 and "Traceback" not in err and "bad.xml" in err
    dangling = write(tmp_path, "dangling.xml", (
        "<cib><configuration><crm_config/><nodes/><resources/><constraints>"
        "<rsc_location id='l' rsc='ghost' node='n' score='1'/></constraints></configuration>"
        "<status/></cib>"))
    code, _, err = run(capsys, "validate", dangling)
    assert code == 1
    assert f"{dangling}: at locations[0].rsc: unknown resource 'ghost'" in err


# --------------------------------------------------------------------------- show


def test_show(capsys):
    code, out, _ = run(capsys, "show", DEMO)
    assert code == 0
    assert out.startswith(f"{DEMO}: 3 nodes, 3 resources, 5 constraints\n")
    for text in ("Cluster properties:", "  stonith-enabled = false", "Nodes (3):",
                 "  node1  rack=a role=controller", "Resources (3):",
                 "  vip (ocf:heartbeat:IPaddr2)  ip=192.0.2.10 cidr_netmask=24",
                 "      op monitor, every 10s, timeout 20s",
                 "  haproxy-clone: clone of haproxy  meta: interleave=true",
                 "  api: group of 2 members", "    keystone (systemd:apache2)",
                 "Constraints (5):", "  location    vip prefers node1 (100)",
                 "  colocation  api with vip (INFINITY)",
                 "  order       start vip then start api (Mandatory)"):
        assert text in out, text


def test_show_rules_sets_and_roles(capsys):
    code, out, _ = run(capsys, "show", OPENSTACK)
    assert code == 0
    assert "galera-bundle: promotable clone of galera" in out
    assert "location    galera-bundle: -INFINITY if galera-role not_defined or galera-role ne true" in out
    assert "openstack-singletons with redis-bundle (Promoted) (50)" in out
    assert "order       (galera-bundle rabbitmq-clone; start, unordered) then (openstack-singletons)" in out
    assert "  timeout=30s  (when operation monitor)" in out


def test_show_json(capsys):
    code, out, _ = run(capsys, "show", "--json", DEMO)
    assert code == 0
    data = json.loads(out)
    assert data["counts"] == {"nodes": 3, "resources": 3, "constraints": 5}
    assert data["format"] == "yaml"
    defn = data["definition"]
    assert defn["@type"] == "Definition"
    assert [n["name"] for n in defn["nodes"]] == ["node1", "node2", "node3"]
    vip = defn["resources"][0]
    assert vip["@type"] == "Primitive" and vip["agent"] == "ocf:heartbeat:IPaddr2"
    assert vip["operations"][0]["interval_ms"] == 10_000
    assert defn["colocations"][1]["score"] == 1_000_000


# --------------------------------------------------------------------------- conversions


def test_import_cib_round_trip(capsys, tmp_path):
    xml = tmp_path / "os.xml"
    yml = tmp_path / "os.yaml"
    assert run(capsys, "export-cib", OPENSTACK, "-o", str(xml))[0] == 0
    code, out, err = run(capsys, "import-cib", str(xml), "-o", str(yml))
    assert code == 0, err
    assert out == "" and f"{yml}: written (3 nodes, 10 resources, 18 constraints)" in err
    text = yml.read_text()
    assert text.startswith("# Imported from os.xml by `pacer config import-cib`.")
    assert load_yaml(yml) == load_yaml(OPENSTACK)
    # to standard output
    code, out, _ = run(capsys, "import-cib", str(xml))
    assert code == 0 and out == text


def test_import_cib_rejects_yaml(capsys):
    code, _, err = run(capsys, "import-cib", DEMO)
    assert code == 1 and "this is not CIB XML" in err


def test_export_cib(capsys, tmp_path):
    code, out, _ = run(capsys, "export-cib", DEMO)
    assert code == 0
    assert out.startswith('<cib crm_feature_set="3.16.1" validate-with="pacemaker-3.7"')
    assert "<status />" in out
    code, out, _ = run(capsys, "export-cib", DEMO, "--online")
    assert code == 0 and out.count('crmd="online"') == 3


def test_export_cib_of_bad_yaml(capsys, tmp_path):
    bad = write(tmp_path, "bad.yaml", "resources:\n  - {id: a, agent: 'systemd:a'}\n"
                "constraints:\n  - order: {first: a, then: b}\n  - order: {first: b, then: a}\n")
    code, out, err = run(capsys, "export-cib", bad, "-o", str(tmp_path / "x.xml"))
    assert code == 1 and out == ""
    assert "unknown resource 'b'" in err
    assert not (tmp_path / "x.xml").exists()


def test_write_error_is_reported(capsys, tmp_path):
    code, _, err = run(capsys, "export-cib", DEMO, "-o", str(tmp_path / "no" / "such" / "x.xml"))
    assert code == 1 and "Traceback" not in err and "No such file" in err


# --------------------------------------------------------------------------- help


def test_help_texts(capsys):
    for argv in (["config", "--help"], ["config", "validate", "--help"],
                 ["config", "show", "--help"], ["config", "import-cib", "--help"],
                 ["config", "export-cib", "--help"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 0
        out = capsys.readouterr().out
        assert out.startswith("usage: pacer config")
        if len(argv) > 2:
            assert "Examples:" in out, argv


def test_config_without_subcommand_prints_help(capsys):
    code, out, _ = run(capsys)
    assert code == 2 and "validate" in out and "export-cib" in out


def test_entry_point_runs_as_a_process(tmp_path):
    bad = write(tmp_path, "bad.yaml", "nodes: [a\n")
    result = subprocess.run([sys.executable, "-m", "pacer", "config", "validate", bad],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "invalid YAML" in result.stderr and "Traceback" not in result.stderr
