"""Pipeline sharding: PipelineMixin detection, memory-aware layer split, Llama-family pipeline.

Modules:

- ``split``     layer counts and ranges per rank (pure; mlx-lm's reversed convention)
- ``planning``  the ``ShardPlan``: even, or by node memory (pure)
- ``weights``   which safetensors files a rank reads, from the weight index (pure)
- ``families``  what can be pipelined: PipelineMixin, or a family of ``OWN_FAMILIES``
- ``stage``     ``PipelineStage``: the pipeline for Llama/Qwen3 inner modules (MLX)
- ``loading``   a rank's load: its files only, the pipeline set up, progress (MLX)
- ``strategy``  ``PipelineParallel``, the registered 'pipeline' strategy
"""
