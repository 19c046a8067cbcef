"""Counting jaccl loads per node since boot, and warning before its queue pairs run out."""

from __future__ import annotations

import json

import pytest

from odyssai_transport_jaccl import QUEUE_PAIRS_PER_DEVICE, LoadCycles, parse_boot_id
from odyssai_transport_jaccl.cycles import WARNING_MARGIN


def loads(counter: LoadCycles, node: str, boot: str, n: int) -> None:
    for _ in range(n):
        counter.record_load(node, boot)


def test_a_node_never_loaded_has_a_count_of_zero(tmp_path):
    assert LoadCycles(tmp_path).count("studio-a", "1733280000") == 0


def test_each_load_adds_one_to_the_nodes_count(tmp_path):
    c = LoadCycles(tmp_path)
    loads(c, "studio-a", "1733280000", 3)
    assert c.count("studio-a", "1733280000") == 3


def test_the_count_survives_a_new_counter_on_the_same_state_dir(tmp_path):
    loads(LoadCycles(tmp_path), "studio-a", "1733280000", 2)
    assert LoadCycles(tmp_path).count("studio-a", "1733280000") == 2


def test_the_count_starts_again_when_the_node_has_booted_since(tmp_path):
    c = LoadCycles(tmp_path)
    loads(c, "studio-a", "1733280000", 5)
    assert c.record_load("studio-a", "1733290000") == 1


def test_nodes_are_counted_separately(tmp_path):
    c = LoadCycles(tmp_path)
    loads(c, "studio-a", "1", 4)
    loads(c, "studio-b", "1", 1)
    assert (c.count("studio-a", "1"), c.count("studio-b", "1")) == (4, 1)


def test_no_warning_while_the_node_is_far_from_the_queue_pair_limit(tmp_path):
    c = LoadCycles(tmp_path)
    loads(c, "studio-a", "1", QUEUE_PAIRS_PER_DEVICE - WARNING_MARGIN - 1)
    assert c.warning("studio-a", "1") is None


def test_a_warning_comes_before_the_known_degradation_point(tmp_path):
    c = LoadCycles(tmp_path)
    loads(c, "studio-a", "1", QUEUE_PAIRS_PER_DEVICE - WARNING_MARGIN)
    assert "reboot" in c.warning("studio-a", "1")


def test_the_warning_is_gone_after_the_node_reboots(tmp_path):
    c = LoadCycles(tmp_path)
    loads(c, "studio-a", "1", QUEUE_PAIRS_PER_DEVICE)
    assert c.warning("studio-a", "2") is None


def test_loads_left_counts_down_to_zero_and_no_further(tmp_path):
    c = LoadCycles(tmp_path)
    loads(c, "studio-a", "1", QUEUE_PAIRS_PER_DEVICE + 3)
    assert c.loads_left("studio-a", "1") == 0


def test_an_unreadable_state_file_counts_from_zero_instead_of_failing(tmp_path):
    (tmp_path / LoadCycles.FILENAME).write_text("{not json")
    assert LoadCycles(tmp_path).record_load("studio-a", "1") == 1


def test_the_state_file_is_plain_json_keyed_by_node(tmp_path):
    LoadCycles(tmp_path).record_load("studio-a", "1")
    data = json.loads((tmp_path / LoadCycles.FILENAME).read_text())
    assert data["nodes"]["studio-a"] == {"boot_id": "1", "loads": 1}


def test_forgetting_a_node_drops_its_count(tmp_path):
    c = LoadCycles(tmp_path)
    loads(c, "studio-a", "1", 2)
    c.forget("studio-a")
    assert c.count("studio-a", "1") == 0


def test_the_macos_boot_time_is_read_from_sysctl_kern_boottime():
    # written from the documented output of `sysctl -n kern.boottime` (not captured on a Mac)
    assert parse_boot_id("Darwin", "{ sec = 1733280000, usec = 52000 } Wed Dec  4 03:20:00 2024\n") == "1733280000"


def test_the_linux_boot_id_is_the_uuid_the_kernel_prints():
    assert parse_boot_id("Linux", "7b0c4e1e-8f0e-4c39-9f6e-0d1c7c1b2a3d\n") == "7b0c4e1e-8f0e-4c39-9f6e-0d1c7c1b2a3d"


def test_an_unreadable_macos_boot_time_is_an_error():
    with pytest.raises(ValueError):
        parse_boot_id("Darwin", "sysctl: unknown oid 'kern.boottime'")
