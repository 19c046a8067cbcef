"""One rank of a pipeline test: join the ring group, load with the 'pipeline' strategy, generate.

    MLX_RANK=r MLX_HOSTFILE=hosts.json python pipeline_worker.py MODEL_DIR PLAN.json OUT.json

Writes ``{"rank", "files", "runs", "local_layers", "progress", "result"}`` to OUT.json, where
``result`` is ``pipemodels.generate_batch`` of the loaded model. Needs ``tests`` on PYTHONPATH.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main(model_dir: str, plan_file: str, out_file: str) -> int:
    started = time.perf_counter()
    import mlx.core as mx
    from odyssai.sharding import ShardPlan
    from odyssai_shard_pipeline.strategy import PipelineParallel

    from support.pipemodels import generate_batch

    group = mx.distributed.init(backend="ring", strict=True)
    rank = group.rank()
    plan = ShardPlan.from_dict(json.loads(Path(plan_file).read_text()))
    progress: list[tuple[int, int, str]] = []
    model, report = PipelineParallel().load(Path(model_dir), group, plan, rank,
                                            lambda done, total, what="": progress.append((done, total, what)))
    loaded = time.perf_counter()
    result = generate_batch(model)
    mx.eval(mx.distributed.all_sum(mx.array(1.0), group=group))  # nobody leaves early
    print(f"rank {rank}: loaded in {loaded - started:.2f}s, generated in {time.perf_counter() - loaded:.2f}s",
          file=sys.stderr)
    Path(out_file).write_text(json.dumps({
        "rank": rank, "files": report.files, "runs": [model.model.start_idx, model.model.end_idx],
        "local_layers": len(model.layers), "progress": progress, "result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:4]))
