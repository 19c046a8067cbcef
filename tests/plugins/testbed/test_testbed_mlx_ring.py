"""MLX's ring backend across testbed nodes, each rank started over SSH on its own node."""

from __future__ import annotations

import json
import subprocess
import sys

import mlx.core  # noqa: F401  (a dependency of the workspace: missing is an error, never a skip)
import pytest

pytestmark = pytest.mark.testbed

RANK = """
import json
import mlx.core as mx

group = mx.distributed.init(backend="ring", strict=True)
total = mx.distributed.all_sum(mx.array([float(group.rank() + 1)]))
mx.eval(total)
print(json.dumps({"rank": group.rank(), "size": group.size(), "sum": total.item()}), flush=True)
"""


def test_an_mlx_ring_all_sum_across_three_nodes_over_ssh_succeeds(mesh3, tmp_path):
    script = tmp_path / "rank.py"
    script.write_text(RANK)
    hostfile = tmp_path / "hostfile.json"
    hostfile.write_text(json.dumps([[f"{mesh3.node_ip(n)}:5511"] for n in mesh3.node_names]))
    ranks = [subprocess.Popen(mesh3.ssh_argv(node, "env", f"MLX_RANK={rank}", f"MLX_HOSTFILE={hostfile}",
                                             sys.executable, str(script)),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for rank, node in enumerate(mesh3.node_names)]
    try:
        outputs = [r.communicate(timeout=90) for r in ranks]
    finally:
        for r in ranks:
            r.kill()
    for rank, (r, (out, err)) in enumerate(zip(ranks, outputs)):
        assert r.returncode == 0, f"rank {rank}: {err.strip()[-500:]}"
        assert json.loads(out) == {"rank": rank, "size": 3, "sum": 6.0}
