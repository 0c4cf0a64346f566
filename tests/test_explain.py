"""`pacer explain`: the reasons it gives are the scheduler's, in words a reader can follow."""

from __future__ import annotations

import json

import pytest
from test_simulate_cli import (
    DEMO,
    FENCER,
    NODES3,
    SCENARIOS,
    crm_simulate_summary,
    dummy,
    group,
    make_cib,
    needs_crm_simulate,
    node_state,
    run_cli,
    write,
)

from pacer.cli.main import main


def explain(capsys, *argv: str) -> str:
    code, out, err = run_cli(capsys, "explain", *argv)
    assert code == 0, err
    assert err == ""
    return out


def block(out: str, title: str) -> list[str]:
    """The indented lines under `  Title:` in one primitive's explanation."""
    lines = out.splitlines()
    i = lines.index(f"  {title}:")
    got = []
    for line in lines[i + 1:]:
        if not line.startswith("    "):
            break
        got.append(line)
    return got


def field_of(out: str, name: str) -> str:
    for line in out.splitlines():
        if line.startswith(f"  {name}:"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {name} line in:\n{out}")


# --------------------------------------------------------------------------- placement


def test_location_preference_wins_and_runner_up_is_named(tmp_path, capsys):
    path = write(tmp_path, make_cib(
        NODES3, dummy("A"),
        '<rsc_location id="prefer-n2" rsc="A" node="n2" score="50"/>'
        '<rsc_location id="avoid-n3" rsc="A" node="n3" score="-20"/>'))
    out = explain(capsys, "A", str(path))
    assert out.splitlines()[0] == "A (ocf:pacemaker:Dummy)"
    assert field_of(out, "Now") == "stopped"
    assert field_of(out, "Placement") == "n2 (score 50)"
    assert field_of(out, "Outcome") == "Start (n2)"
    why = " ".join(x.strip() for x in block(out, "Why"))
    assert "It is placed on n2, which has the highest score (50)." in why
    assert "Runner-up: n1 (0)." in why
    scores = block(out, "Scores by node (best first)")
    assert scores[0].split() == ["n2", "50", "<-", "chosen"]
    assert scores[1].split() == ["+50", "location", "constraint", "prefer-n2"]
    assert scores[2].split() == ["n1", "0"]
    assert scores[4].split() == ["n3", "-20"]
    assert scores[5].split() == ["-20", "location", "constraint", "avoid-n3"]
    constraints = block(out, "Constraints that name it")
    assert "    location prefer-n2: prefer n2 (50)" in constraints
    assert "    location avoid-n3: avoid n3 (-20)" in constraints
    assert block(out, "What happens")[0].split() == ["*", "Start", "A", "(", "n2", ")"]


def test_stickiness_keeps_it_and_is_shown(tmp_path, capsys):
    xml, _ = SCENARIOS["stickiness-keeps-it-home"]
    out = explain(capsys, "A", str(write(tmp_path, xml)))
    assert field_of(out, "Now") == "active on n1"
    assert field_of(out, "Outcome") == "no change: stays on n1"
    why = " ".join(x.strip() for x in block(out, "Why"))
    assert "It stays on n1, which has the highest score (100)." in why
    assert "Runner-up: n2 (50), n3 (0)." in why
    text = "\n".join(block(out, "Scores by node (best first)"))
    assert "+100    resource-stickiness (it runs there now)" in text
    assert block(out, "What happens") == ["    nothing changes"]


def test_tie_is_explained(tmp_path, capsys):
    path = write(tmp_path, make_cib(["n1", "n2"], dummy("A")))
    out = explain(capsys, "A", str(path))
    why = " ".join(x.strip() for x in block(out, "Why"))
    assert "n2 has the same score. Ties go to the node with fewer resources" in why


def test_stopped_everywhere_names_each_ban(tmp_path, capsys):
    xml, _ = SCENARIOS["banned-everywhere-stops"]
    out = explain(capsys, "A", str(write(tmp_path, xml)))
    assert field_of(out, "Placement") == "none: no node is chosen"
    assert field_of(out, "Outcome") == "Stop (n1) due to node availability"
    why = block(out, "Why")
    assert why[0].strip() == "No node can run it:"
    assert "- n1 has score -INFINITY: location constraint ban-A-1 (-INFINITY)." in why[1]
    assert "- n2 has score -INFINITY: location constraint ban-A-2 (-INFINITY)." in why[2]


def test_blocked_by_order_names_constraint_and_root_cause(tmp_path, capsys):
    xml, _ = SCENARIOS["banned-everywhere-stops"]
    out = explain(capsys, "B", str(write(tmp_path, xml)))
    assert field_of(out, "Placement").startswith("n1")
    assert field_of(out, "Outcome") == "Stop (n1) due to required A start"
    why = " ".join(x.strip() for x in block(out, "Why"))
    assert ("But it cannot start on n1 now: it must start after A starts (order constraint "
            "o-A-B), and A cannot start: A has no node it can run on. So it stops.") in why
    actions = " ".join(x.strip() for x in block(out, "What happens"))
    assert "start on n1 — BLOCKED: it must start after A starts" in actions


def test_mandatory_colocation_with_stopped_primary(tmp_path, capsys):
    path = write(tmp_path, make_cib(
        ["n1", "n2"], dummy("A") + dummy("B"),
        '<rsc_location id="ban-A-1" rsc="A" node="n1" score="-INFINITY"/>'
        '<rsc_location id="ban-A-2" rsc="A" node="n2" score="-INFINITY"/>'
        '<rsc_colocation id="B-with-A" rsc="B" with-rsc="A" score="INFINITY"/>'))
    out = explain(capsys, "B", str(path))
    assert field_of(out, "Outcome") == "no change: stays stopped"
    why = " ".join(x.strip() for x in block(out, "Why"))
    assert ("It can only run where A runs (colocation B-with-A, INFINITY), and A is not "
            "running anywhere, so neither can it.") in why
    assert "colocation B-with-A with A: mandatory, and A is not running anywhere" in out


def test_optional_colocation_adds_score_on_primary_node(tmp_path, capsys):
    path = write(tmp_path, make_cib(
        NODES3, dummy("A") + dummy("B"),
        '<rsc_location id="A-on-n3" rsc="A" node="n3" score="10"/>'
        '<rsc_colocation id="B-near-A" rsc="B" with-rsc="A" score="30"/>'))
    out = explain(capsys, "B", str(path))
    assert field_of(out, "Placement") == "n3 (score 30)"
    why = " ".join(x.strip() for x in block(out, "Why"))
    assert "colocation B-near-A adds 30 on n3, where A runs." in why
    text = " ".join(block(out, "Scores by node (best first)"))
    assert "+30    colocation B-near-A with A (on n3)" in text


def test_node_health_is_given_for_each_node(tmp_path, capsys):
    xml = make_cib(NODES3, FENCER + dummy("A"),
                   '<rsc_location id="A-n1" rsc="A" node="n1" score="100"/>'
                   '<rsc_location id="A-n2" rsc="A" node="n2" score="50"/>',
                   [node_state("n1", running=("A",)), node_state("n2", attrs={"standby": "on"}),
                    node_state("n3", running=("fencer",))],
                   props={"stonith-enabled": "true"})
    out = explain(capsys, "A", str(write(tmp_path, xml)), "--node-fail", "n1")
    assert field_of(out, "Now") == "active on n1"
    assert field_of(out, "Placement") == "n3 (score 0)"
    assert field_of(out, "Outcome") == "Move (n1 -> n3)"
    scores = "\n".join(block(out, "Scores by node (best first)"))
    assert ("cannot run resources: unclean (offline), it must be fenced: peer is no longer "
            "part of the cluster") in scores
    assert "cannot run resources: in standby" in scores
    actions = " ".join(x.strip() for x in block(out, "What happens"))
    assert "stop on n1 — implied by fencing: no command runs" in actions


def test_fail_count_reaching_migration_threshold(tmp_path, capsys):
    xml, _ = SCENARIOS["failed-monitor-migration-threshold"]
    out = explain(capsys, "A", str(write(tmp_path, xml)), "--fail", "A:n1")
    assert field_of(out, "Now") == "active on n1 (FAILED)"
    assert field_of(out, "Outcome") == "Recover (n1 -> n2)"
    scores = " ".join(" ".join(block(out, "Scores by node (best first)")).split())
    assert "-INFINITY fail-count 1 reached migration-threshold 1" in scores


def test_node_down_says_where_it_was_before(tmp_path, capsys):
    xml, _ = SCENARIOS["group-follows-primary-node-down"]
    out = explain(capsys, "A", str(write(tmp_path, xml)), "--node-down", "n1")
    assert field_of(out, "Now") == ("stopped after the what-if edits (before them: active "
                                    "on n1)")
    assert field_of(out, "Outcome") == "Start (n2)"


def test_disabled_and_unmanaged(tmp_path, capsys):
    xml = make_cib(["n1", "n2"], dummy("A", {"target-role": "Stopped"})
                   + dummy("B", {"is-managed": "false"}), "",
                   [node_state("n1", running=("A", "B")), node_state("n2")])
    path = str(write(tmp_path, xml))
    out = explain(capsys, "A", path)
    assert "It is disabled: target-role=Stopped." in out
    assert field_of(out, "Outcome") == "Stop (n1) due to node availability"
    out = explain(capsys, "B", path)
    assert "It is not managed (is-managed=false or maintenance mode)" in out
    assert field_of(out, "Outcome") == "no change: stays on n1"


# --------------------------------------------------------------------------- groups


def test_group_explains_each_member(tmp_path, capsys):
    xml = make_cib(["n1", "n2"], group("G", "B", "C"),
                   '<rsc_location id="G-n2" rsc="G" node="n2" score="10"/>')
    out = explain(capsys, "G", str(write(tmp_path, xml)))
    assert out.startswith("G is a group of 2: B, C.")
    titles = [x for x in out.splitlines() if x and not x.startswith(" ")
              and "member of" in x]
    assert titles == ["B (ocf:pacemaker:Dummy), member of G",
                      "C (ocf:pacemaker:Dummy), member of G"]
    c_part = out.split("C (ocf:pacemaker:Dummy), member of G", 1)[1]
    assert "It must run where B runs (group G (it follows B), INFINITY): B is on n2." in \
        " ".join(x.strip() for x in c_part.splitlines())
    assert "location G-n2: prefer n2 (10) (through group G)" in c_part


def test_group_member_can_be_explained_alone(tmp_path, capsys):
    xml = make_cib(["n1", "n2"], group("G", "B", "C"))
    out = explain(capsys, "C", str(write(tmp_path, xml)))
    assert out.startswith("C (ocf:pacemaker:Dummy), member of G")
    assert "B (ocf" not in out


# --------------------------------------------------------------------------- demo, JSON, errors


def test_demo_vip(capsys):
    out = explain(capsys, "vip", str(DEMO))
    assert field_of(out, "Placement") == "node1 (score 100)"
    assert "+100    location constraint location-vip-node1" in out


def test_demo_group_after_node_down(capsys):
    out = explain(capsys, "api", str(DEMO), "--node-down", "node1")
    assert out.startswith("api is a group of 2: keystone, glance-api.")
    placements = [x.split(":", 1)[1].split()[0] for x in out.splitlines()
                  if x.startswith("  Placement:")]
    assert len(placements) == 2 and placements[0] == placements[1] != "node1"
    assert out.count("cannot run resources: offline") == 2  # node1, for each member


def test_json(tmp_path, capsys):
    xml, _ = SCENARIOS["banned-everywhere-stops"]
    out = explain(capsys, "B", str(write(tmp_path, xml)), "--json")
    data = json.loads(out)
    assert data["resource"] == "B" and data["kind"] == "primitive"
    (b,) = data["primitives"]
    assert b["chosen"] == "n1"
    assert b["active_on"] == ["n1"]
    assert b["happens"] == ["* Stop       B       (    n1 )  due to required A start"]
    nodes = {v["node"]: v for v in b["nodes"]}
    assert nodes["n1"]["chosen"] is True and nodes["n1"]["eligible"] is True
    assert nodes["n2"]["score"] == 0
    assert any("order constraint o-A-B" in w for w in b["why"])


def test_unknown_resource_suggests_close_matches(tmp_path, capsys):
    xml = make_cib(["n1"], dummy("database") + dummy("webserver"))
    code, out, err = run_cli(capsys, "explain", "databse", str(write(tmp_path, xml)))
    assert code == 1 and out == ""
    assert err.strip() == "pacer: error: no resource 'databse'; did you mean 'database'?"


def test_unknown_resource_without_close_match_lists_resources(tmp_path, capsys):
    xml = make_cib(["n1"], dummy("database") + dummy("webserver"))
    code, _, err = run_cli(capsys, "explain", "zzz", str(write(tmp_path, xml)))
    assert code == 1
    assert err.strip() == "pacer: error: no resource 'zzz'; resources are: database, webserver"


def test_missing_file(tmp_path, capsys):
    code, _, err = run_cli(capsys, "explain", "A", str(tmp_path / "nope.xml"))
    assert code == 1 and "no such file" in err


def test_help(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["explain", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for words in ("RSC", "FILE", "--node-down NODE", "--fail RSC:NODE", "--json", "examples:"):
        assert words in out


@needs_crm_simulate
def test_explained_outcome_is_pacemakers(tmp_path, capsys):
    """The Outcome line is the Transition Summary line crm_simulate prints."""
    xml, _ = SCENARIOS["banned-everywhere-stops"]
    path = write(tmp_path, xml)
    theirs = crm_simulate_summary(path)
    for rsc in ("A", "B"):
        out = explain(capsys, rsc, str(path))
        (line,) = [x.strip() for x in block(out, "What happens") if x.strip().startswith("*")]
        assert line in [x.strip() for x in theirs]
