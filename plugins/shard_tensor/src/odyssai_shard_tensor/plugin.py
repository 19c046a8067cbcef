"""Hook implementations of odyssai-shard-tensor: registers the 'tensor' strategy."""

from odyssai import hookimpl

from .strategy import TensorParallel


@hookimpl
def odyssai_register_shard_strategies(register):
    register(TensorParallel())
