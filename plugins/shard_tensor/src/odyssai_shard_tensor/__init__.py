"""Tensor-parallel sharding: model.shard() with KV-head divisibility checks."""
