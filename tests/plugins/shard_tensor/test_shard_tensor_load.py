"""The strategy's runner side in this process (one rank, no group): the same model as mlx-lm
builds, parameters materialized layer by layer with progress, and the files it read."""

import mlx.core as mx
from mlx.utils import tree_flatten

from odyssai.sharding import ShardPlan
from odyssai_shard_tensor.strategy import TensorParallel
from support.tinymodels import build_qwen3


def test_loading_on_one_rank_gives_mlx_lms_model_and_reports_progress_and_files(tmp_path):
    from mlx_lm.utils import load_model

    built = build_qwen3(tmp_path, layers=3)
    progress = []
    model, report = TensorParallel().load(built.path, None, ShardPlan("tensor", 1, [{}]), 0,
                                          lambda d, t, w: progress.append((d, t)))
    assert report.files == list(built.files)
    assert progress == [(1, 4), (2, 4), (3, 4), (4, 4)]
    expected, _ = load_model(built.path)
    ours = dict(tree_flatten(model.parameters()))
    for name, value in tree_flatten(expected.parameters()):
        assert mx.array_equal(ours[name], value), name
