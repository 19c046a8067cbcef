"""Hook implementations of odyssai-shard-pipeline: registers the 'pipeline' strategy."""

from odyssai import hookimpl

from .strategy import PipelineParallel


@hookimpl
def odyssai_register_shard_strategies(register):
    register(PipelineParallel())
