"""The per-step decision rank 0 shares: its wire format."""

import json

import pytest

from odyssai.runner.lockstep import Decision, Insert, share


def test_an_empty_decision_is_sent_as_zero_bytes():
    assert Decision().encode() == b""
    assert Decision.decode(b"") == Decision()


def test_a_decision_round_trips_as_json_with_inserts_in_order():
    d = Decision(remove=["a"], insert=[Insert("b", [1, 2, 3], 16, 0.7, 0.9, 42), Insert("c", [4], 1)])
    data = d.encode()
    body = json.loads(data)
    assert body["v"] == 1 and [i["id"] for i in body["insert"]] == ["b", "c"]
    assert Decision.decode(data) == d


def test_a_stop_alone_is_not_empty():
    assert not Decision(stop=True).empty
    assert Decision.decode(Decision(stop=True).encode()).stop


def test_a_decision_in_another_format_version_is_refused():
    with pytest.raises(ValueError, match="format 99"):
        Decision.decode(json.dumps({"v": 99}).encode())


def test_without_a_group_share_returns_the_decision_itself():
    d = Decision(remove=["x"])
    assert share(d, None, 0) is d
    assert share(None, None, 0) == Decision()
