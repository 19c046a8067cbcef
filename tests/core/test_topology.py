"""topology.yaml: reading with one-line errors, atomic saving with backups, mesh validation."""

from __future__ import annotations

import os
import stat

import pytest
import yaml

from odyssai.errors import TopologyError
from odyssai.topology import Cluster, Node, load_topology, parse_topology, save_clusters, validate_mesh

TWO_CLUSTERS = """\
clusters:
  studio:
    backend: jaccl
    models_dir: /Volumes/models
    nodes:
      - {name: m1, host: 10.0.0.1, user: admin, python: /opt/py/bin/python3}
      - {name: m2, host: 10.0.0.2, user: admin, reboot_command: "sudo reboot"}
    rdma_to:
      m1: {m2: rdma_en3}
      m2: {m1: rdma_en3}
  lab:   # a second cluster nobody touches
    backend: ring
    nodes:
      - {name: a, host: lab-a.local, ip: 192.168.1.10, port: 2222}
"""


def test_a_topology_round_trips_through_save_and_load(tmp_path):
    path = tmp_path / "topology.yaml"
    cluster = Cluster(backend="ring", nodes=[Node(name="n1", host="10.1.0.1"), Node(name="n2", host="10.1.0.2", port=2200)])
    save_clusters(path, {"c": cluster})
    assert load_topology(path).cluster("c") == cluster


def test_saving_keeps_a_backup_of_the_previous_file(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text(TWO_CLUSTERS)
    backup = save_clusters(path, {"new": Cluster(nodes=[Node(name="x", host="10.9.9.9")])})
    assert backup is not None and backup.read_text() == TWO_CLUSTERS
    assert backup.name.startswith("topology.yaml.bak-")


def test_saving_preserves_every_other_cluster_in_meaning(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text(TWO_CLUSTERS)
    before = yaml.safe_load(TWO_CLUSTERS)["clusters"]
    save_clusters(path, {"studio": Cluster(backend="ring", nodes=[Node(name="m1", host="10.0.0.1")])})
    after = yaml.safe_load(path.read_text())["clusters"]
    assert after["lab"] == before["lab"]
    assert load_topology(path).cluster("studio").backend == "ring"


def test_saving_writes_mode_0600_atomically(tmp_path):
    path = tmp_path / "topology.yaml"
    save_clusters(path, {"c": Cluster(nodes=[Node(name="n", host="h1")])})
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".topology-")] == []


def test_deleting_a_cluster_leaves_the_others(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text(TWO_CLUSTERS)
    save_clusters(path, {"studio": None})
    assert list(load_topology(path).clusters) == ["lab"]


def test_malformed_yaml_is_one_line_naming_the_file_and_line(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text("clusters:\n  a:\n    nodes: [\n")
    with pytest.raises(TopologyError) as e:
        load_topology(path)
    msg = str(e.value)
    assert "\n" not in msg and str(path) in msg and "line " in msg


def test_a_wrong_field_type_names_the_cluster_node_and_field():
    text = "clusters:\n  lab:\n    nodes:\n      - {name: a, host: h, port: not-a-port}\n"
    with pytest.raises(TopologyError, match=r"cluster 'lab' node 'a' field 'port'"):
        parse_topology(text)


def test_an_unknown_field_is_refused():
    with pytest.raises(TopologyError, match=r"cluster 'lab' node 'a' field 'colour'"):
        parse_topology("clusters:\n  lab:\n    nodes:\n      - {name: a, host: h, colour: red}\n")


def test_duplicate_node_names_are_refused():
    text = "clusters:\n  lab:\n    nodes:\n      - {name: a, host: h1}\n      - {name: a, host: h2}\n"
    with pytest.raises(TopologyError, match="cluster 'lab': duplicate node name 'a'"):
        parse_topology(text)


@pytest.mark.parametrize("bad", ["a;rm -rf /", "../x", "a b", "$(id)"])
def test_hostile_names_are_refused(bad):
    with pytest.raises(TopologyError):
        parse_topology(yaml.safe_dump({"clusters": {"c": {"nodes": [{"name": bad, "host": "h"}]}}}))


def test_a_broken_file_is_never_overwritten(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text("clusters: [")
    with pytest.raises(TopologyError):
        save_clusters(path, {"c": Cluster(nodes=[Node(name="n", host="h")])})
    assert path.read_text() == "clusters: ["


def test_a_file_that_is_not_utf8_is_a_one_line_error_naming_it(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(TopologyError) as e:
        load_topology(path)
    assert str(path) in e.value.message and "UTF-8" in e.value.message and "\n" not in e.value.message


def test_a_directory_in_place_of_the_file_is_a_one_line_error_naming_it(tmp_path):
    path = tmp_path / "topology.yaml"
    path.mkdir()
    with pytest.raises(TopologyError, match="is a directory") as e:
        load_topology(path)
    assert str(path) in e.value.message


def test_an_unreadable_file_is_never_overwritten(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(TopologyError, match="UTF-8"):
        save_clusters(path, {"c": Cluster(nodes=[Node(name="n", host="h")])})
    assert path.read_bytes() == b"\xff\xfe"


def test_a_symmetric_full_mesh_validates():
    names = ["a", "b", "c"]
    rdma = {"a": {"b": "rdma_en2", "c": "rdma_en3"}, "b": {"a": "rdma_en2", "c": "rdma_en3"},
            "c": {"a": "rdma_en2", "b": "rdma_en3"}}
    report = validate_mesh(names, rdma)
    assert report.ok and report.expected_edges == 6 and len(report.edges) == 6


def test_the_mesh_validator_names_each_one_sided_and_missing_edge():
    names = ["a", "b", "c"]
    rdma = {"a": {"b": "rdma_en2", "c": "rdma_en3"}, "b": {"c": "rdma_en3"}, "c": {"b": "rdma_en3"}}
    report = validate_mesh(names, rdma)
    assert report.problems == [
        "one-sided cable: a -> b (rdma_en2) is not seen from b",
        "one-sided cable: a -> c (rdma_en3) is not seen from c",
    ]
    report = validate_mesh(names, {"a": {"b": "rdma_en2"}, "b": {"a": "rdma_en2"}})
    assert report.problems == ["missing cable: a <-> c", "missing cable: b <-> c"]


def test_a_ring_wiring_needs_only_neighbours():
    names = ["a", "b", "c", "d"]
    rdma = {"a": {"b": "e1", "d": "e2"}, "b": {"a": "e1", "c": "e2"}, "c": {"b": "e1", "d": "e2"},
            "d": {"c": "e1", "a": "e2"}}
    assert validate_mesh(names, rdma, wiring="ring").ok
    assert not validate_mesh(names, rdma, wiring="mesh").ok


def test_rdma_to_naming_a_stranger_is_reported():
    report = validate_mesh(["a", "b"], {"a": {"b": "x", "zed": "y"}, "b": {"a": "x"}})
    assert report.problems == ["a -> zed (y): 'zed' is not a node of the cluster"]


@pytest.mark.parametrize("reserved", ["clusters", "events"])
def test_cluster_names_the_admin_api_uses_itself_are_refused(reserved):
    with pytest.raises(TopologyError, match="reserved"):
        parse_topology(yaml.safe_dump({"clusters": {reserved: {"nodes": [{"name": "a", "host": "h"}]}}}))


# --- saving keeps comments and layout; backups are pruned ----------------------------------

COMMENTED = """\
# our Macs -- edited by hand, keep this note
clusters:
  # the office: three Mac Studios
  studio:
    backend: jaccl   # Thunderbolt 5
    nodes:
      - {name: m1, host: 10.0.0.1, user: admin}   # the one by the window
      - {name: m2, host: 10.0.0.2, user: admin, reboot_command: "sudo reboot"}
    rdma_to:
      m1: {m2: rdma_en3}
      m2: {m1: rdma_en3}
  lab:   # a second cluster nobody touches
    backend: ring
    nodes:
      # a is the old Mini
      - name:   a
        host: lab-a.local
        port: 2222
# end of file
"""

LAB = COMMENTED[COMMENTED.index("  lab:"):]


def test_a_change_to_one_cluster_keeps_every_other_line_and_comment_byte_for_byte(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text(COMMENTED)
    studio = load_topology(path).cluster("studio")
    save_clusters(path, {"studio": studio.model_copy(update={"rdma_to": {"m1": {"m2": "rdma_en5"},
                                                                          "m2": {"m1": "rdma_en5"}}})})
    text = path.read_text()
    assert text == COMMENTED.replace("rdma_en3", "rdma_en5")  # only the changed lines differ
    assert load_topology(path).cluster("studio").rdma_to == {"m1": {"m2": "rdma_en5"}, "m2": {"m1": "rdma_en5"}}


def test_replacing_a_cluster_keeps_the_other_clusters_and_top_level_comments(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text(COMMENTED)
    save_clusters(path, {"studio": Cluster(backend="ring", nodes=[Node(name="m9", host="10.0.0.9")])})
    text = path.read_text()
    assert text.startswith("# our Macs -- edited by hand, keep this note\nclusters:\n  # the office")
    assert text.endswith(LAB)  # the untouched cluster, its comments and the file's last comment
    assert load_topology(path).cluster("studio").nodes[0].name == "m9"


def test_adding_and_deleting_clusters_keep_the_comments_of_the_others(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text(COMMENTED)
    save_clusters(path, {"new": Cluster(nodes=[Node(name="yes", host="on", user="no")])})
    assert path.read_text().startswith(COMMENTED.removesuffix("# end of file\n"))
    assert load_topology(path).cluster("new").nodes[0].model_dump(include={"name", "host", "user"}) == {
        "name": "yes", "host": "on", "user": "no"}  # YAML 1.1 booleans stay strings
    save_clusters(path, {"studio": None, "new": None})
    assert path.read_text() == "# our Macs -- edited by hand, keep this note\nclusters:\n" + LAB
    save_clusters(path, {"lab": None})
    assert path.read_text().startswith("# our Macs -- edited by hand, keep this note\n")
    assert load_topology(path).clusters == {}


def test_a_file_in_flow_style_keeps_its_comments_and_its_meaning(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text("# top note\nclusters: {lab: {nodes: [{name: a, host: h}]}, b: {nodes: [{name: x, host: h}]}}\n")
    save_clusters(path, {"lab": Cluster(nodes=[Node(name="a", host="h2")])})
    assert path.read_text().startswith("# top note\n")
    topo = load_topology(path)
    assert topo.cluster("lab").nodes[0].host == "h2" and topo.cluster("b").nodes[0].name == "x"


def test_a_file_ruamel_cannot_round_trip_is_still_saved_correctly(tmp_path):
    path = tmp_path / "topology.yaml"  # a duplicate key: PyYAML takes the last one, ruamel refuses
    path.write_text("clusters:\n  a: {nodes: [{name: x, host: h1}]}\n  a: {nodes: [{name: x, host: h2}]}\n")
    save_clusters(path, {"b": Cluster(nodes=[Node(name="y", host="h")])})
    topo = load_topology(path)
    assert topo.cluster("a").nodes[0].host == "h2" and topo.cluster("b").nodes[0].name == "y"


def test_windows_line_ends_are_kept(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_bytes(b"# note\r\nclusters:\r\n  a:\r\n    nodes: [{name: x, host: h}]\r\n")
    save_clusters(path, {"b": Cluster(nodes=[Node(name="y", host="h")])})
    data = path.read_bytes()
    assert data.startswith(b"# note\r\nclusters:\r\n  a:\r\n    nodes: [{name: x, host: h}]\r\n  b:\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")


def test_only_the_newest_backups_are_kept(tmp_path):
    path = tmp_path / "topology.yaml"
    path.write_text(COMMENTED)
    old = [tmp_path / f"topology.yaml.bak-2020010{d}-000000" for d in range(1, 10)]
    old += [tmp_path / f"topology.yaml.bak-20200110-000000-{n}" for n in range(1, 12)]  # -10 is newer than -9
    for p in old:
        p.write_text(COMMENTED)
    mine = tmp_path / "topology.yaml.bak-before-upgrade"  # not one of ours: never deleted
    mine.write_text(COMMENTED)
    backup = save_clusters(path, {"x": Cluster(nodes=[Node(name="n", host="h")])})
    left = sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("topology.yaml.bak-"))
    assert len(left) == 21 and mine.name in left and backup.name in left
    assert not old[0].exists() and old[1].exists()  # the 20 newest: the new one and 19 of the old
    second = save_clusters(path, {"x": None}, keep_backups=4)
    left = {p.name for p in tmp_path.iterdir() if p.name.startswith("topology.yaml.bak-2")}
    assert left == {second.name, backup.name, old[-1].name, old[-2].name}  # -11 and -10, not -9
    assert mine.exists()
