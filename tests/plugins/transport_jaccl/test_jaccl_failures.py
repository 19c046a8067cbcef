"""Classifying JACCL's error output: kind, errno, and whether a reboot is the remedy.

The texts are the errors as reported upstream (the issue or PR is named next to each), except
where marked "written": those follow MLX's source (mlx/distributed/jaccl, utils.cpp) for
errors no one posted verbatim. The Linux one was captured here, from mlx 0.32.4.
"""

from __future__ import annotations

import pytest

from odyssai.transport import Failure
from odyssai_transport_jaccl import JacclTransport, classify, reboot_nodes, root_cause

TABLE = [
    # (text, kind, errno, action)
    # ml-explore/mlx#4209 (message after that PR)
    ("RuntimeError: [jaccl] Creating the queue pair failed with errno 16. Thunderbolt RDMA devices "
     "support a limited number of queue pairs per device and fail here once they are exhausted.",
     "queue_pairs_exhausted", 16, "reboot"),
    # ml-explore/mlx before #4209: the bare message
    ("RuntimeError: [jaccl] Couldn't create queue pair", "queue_pairs_exhausted", None, "reboot"),
    # ml-explore/mlx#3207 troubleshooting table: "RTR errno 16 (EBUSY) stale RDMA resources"
    ("ValueError: [jaccl] Changing queue pair to RTR failed with errno 16", "queue_pairs_exhausted", 16, "reboot"),
    # exo-explore/exo#1973
    ("ValueError: [jaccl] Changing queue pair to RTR failed with errno 96", "queue_pairs_degraded", 96, "reboot"),
    # exo-explore/exo#2111
    ("RuntimeError: [jaccl] Couldn't allocate protection domain", "protection_domains_exhausted", None, "reboot"),
    # ml-explore/mlx#3467, exo-explore/exo#1390
    ("Runner crashed with critical exception [jaccl] Changing queue pair to RTR failed with errno 22",
     "rdma_port_not_configured", 22, None),
    # ml-explore/mlx#3468 / #4530: RTR with a GID the peer cannot reach (written)
    ("ValueError: [jaccl] Changing queue pair to RTR failed with errno 60", "rdma_peer_unreachable", 60, None),
    # exo-explore/exo#1847 family: the side channel's connect (message of older mlx)
    ("RuntimeError: [jaccl] Couldn't connect (error: 60)", "coordinator_unreachable", 60, None),
    # mlx/distributed/utils.cpp today (written)
    ("RuntimeError: [jaccl] Couldn't connect to any resolved address (last error: 61)",
     "coordinator_unreachable", 61, None),
    # mlx/distributed/utils.cpp (written)
    ("RuntimeError: [jaccl] Couldn't listen on any resolved address (last error: 48)",
     "coordinator_port_busy", 48, None),
    # ml-explore/mlx#4530, exo-explore/exo#1847
    ("RuntimeError: [jaccl] Recv failed with errno=2", "peer_lost", 2, None),
    # the "Send failed with errno=22 cascade" after rank 0 failed at RTR
    ("RuntimeError: [jaccl] Send failed with errno=22", "peer_lost", 22, None),
    # mlx/distributed/jaccl/utils.cpp (written)
    ("RuntimeError: [jaccl] Could not open device rdma_en5", "rdma_device_unavailable", None, None),
    # captured on this Linux machine: mx.distributed.init(backend="jaccl", strict=True), mlx 0.32.4
    ("RuntimeError: Cannot initialize jaccl distributed backend.", "backend_unavailable", None, None),
    # the message the brief names (written)
    ("jaccl backend not available", "backend_unavailable", None, None),
    # ml-explore/mlx jaccl.cpp, when librdma is missing or the env is not set
    ('RuntimeError: [jaccl] You need to provide via environment variables a rank (MLX_RANK), a device '
     'file (MLX_IBV_DEVICES) and a coordinator ip/port (MLX_JACCL_COORDINATOR) but provided MLX_RANK=""',
     "backend_unavailable", None, None),
]


@pytest.mark.parametrize("text,kind,errno,action", TABLE, ids=[row[1] + f"-{row[2]}" for row in TABLE])
def test_each_known_jaccl_error_is_classified_with_its_kind_errno_and_action(text, kind, errno, action):
    f = classify(text)
    assert (f.kind, f.errno, f.action) == (kind, errno, action)


@pytest.mark.parametrize("text", [row[0] for row in TABLE])
def test_every_classified_failure_has_a_one_line_message_and_remedy(text):
    f = classify(text)
    assert f.message and "\n" not in f.message and f.remedy and "\n" not in f.remedy


def test_the_failure_names_the_transport_rank_and_node_it_came_from():
    f = JacclTransport().classify("[jaccl] Recv failed with errno=2", rank=1, node="studio-b")
    assert (f.transport, f.rank, f.node) == ("jaccl", 1, "studio-b")


def test_text_that_is_not_a_jaccl_error_is_not_classified():
    assert classify("Traceback (most recent call last):\nKeyError: 'model.layers.0'") is None


def test_errno_22_is_not_mistaken_for_errno_2():
    assert classify("[jaccl] Changing queue pair to RTR failed with errno 22").kind == "rdma_port_not_configured"


def test_a_queue_pair_error_wins_over_the_side_channel_error_that_follows_it_in_the_same_output():
    text = ("[jaccl] Couldn't allocate protection domain\n"
            "[jaccl] Recv failed with errno=2\n")
    assert classify(text).kind == "protection_domains_exhausted"


def test_the_root_cause_of_a_cluster_is_not_the_rank_that_only_lost_its_side_channel():
    failures = [classify("[jaccl] Recv failed with errno=2", rank=0, node="a"),
                classify("[jaccl] Changing queue pair to RTR failed with errno 96", rank=1, node="b"),
                None]
    assert root_cause(failures).node == "b"


def test_the_root_cause_of_ranks_that_all_lost_the_side_channel_is_the_lowest_rank():
    failures = [classify("[jaccl] Recv failed with errno=2", rank=r, node=f"n{r}") for r in (2, 1)]
    assert root_cause(failures).rank == 1


def test_no_classified_failure_means_no_root_cause():
    assert root_cause([None, None]) is None


def test_the_nodes_to_reboot_are_those_whose_failure_asks_for_a_reboot():
    failures = [classify("[jaccl] Recv failed with errno=2", rank=0, node="a"),
                classify("[jaccl] Couldn't create queue pair", rank=1, node="b"),
                Failure(kind="x", message="", remedy="", node="b", action="reboot")]
    assert reboot_nodes(failures) == ["b"]
