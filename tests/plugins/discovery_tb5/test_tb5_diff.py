"""The before/after diff of a rebuild: cables added, removed, moved."""

from __future__ import annotations

from odyssai_discovery_tb5 import diff_rdma_to, render_diff

BEFORE = {"a": {"b": "rdma_en2", "c": "rdma_en3"}, "b": {"a": "rdma_en2", "c": "rdma_en3"},
          "c": {"a": "rdma_en2", "b": "rdma_en3"}}


def test_the_same_wiring_has_no_changes():
    assert diff_rdma_to(BEFORE, BEFORE) == []


def test_a_cable_plugged_into_another_port_is_moved_not_removed_and_added():
    after = {**BEFORE, "a": {"b": "rdma_en4", "c": "rdma_en3"}}
    [change] = diff_rdma_to(BEFORE, after)
    assert (change.change, change.a, change.b, change.before, change.after) == (
        "moved", "a", "b", ("rdma_en2", "rdma_en2"), ("rdma_en4", "rdma_en2"))


def test_a_new_node_brings_added_cables():
    after = {**BEFORE, "a": {**BEFORE["a"], "d": "rdma_en5"}, "d": {"a": "rdma_en2"}}
    assert [(c.change, c.a, c.b) for c in diff_rdma_to(BEFORE, after)] == [("added", "a", "d")]


def test_a_pulled_cable_is_removed():
    after = {"a": {"c": "rdma_en3"}, "b": {"c": "rdma_en3"}, "c": {"a": "rdma_en2", "b": "rdma_en3"}}
    assert [(c.change, c.a, c.b) for c in diff_rdma_to(BEFORE, after)] == [("removed", "a", "b")]


def test_no_wiring_before_means_every_cable_is_added():
    assert {c.change for c in diff_rdma_to(None, BEFORE)} == {"added"}


def test_each_change_renders_as_one_line():
    after = {"a": {"b": "rdma_en4"}, "b": {"a": "rdma_en2", "d": "rdma_en5"}, "d": {"b": "rdma_en2"}}
    assert render_diff(diff_rdma_to(BEFORE, after)) == [
        "~ a <-> b: a rdma_en2 -> rdma_en4",
        "- a rdma_en3 <-> c rdma_en2",
        "- b rdma_en3 <-> c rdma_en3",
        "+ b rdma_en5 <-> d rdma_en2",
    ]


def test_a_side_that_went_missing_renders_as_a_question_mark():
    after = {**BEFORE, "b": {"c": "rdma_en3"}}
    assert render_diff(diff_rdma_to(BEFORE, after)) == ["~ a <-> b: b rdma_en2 -> ?"]


def test_a_change_is_plain_data():
    [change] = diff_rdma_to(None, {"a": {"b": "rdma_en2"}, "b": {"a": "rdma_en3"}})
    assert change.to_dict() == {"change": "added", "a": "a", "b": "b", "before": [None, None],
                                "after": ["rdma_en2", "rdma_en3"]}
