"""The runner: one process per rank that holds this rank's part of a model and generates.

Started as ``python -m odyssai.runner --rank R --size N --models-dir DIR`` with the transport's
environment already set. Its stdin/stdout are the control channel (``odyssai.protocol``), its
stderr is its log. Modules:

- ``channel``    the protocol streams: stdout kept for protocol lines only, the stdin reader
- ``node``       facts about this machine for ``Hello``
- ``inspection`` answering ``Inspect`` (no MLX group needed)
- ``loading``    joining the group, loading weights and tokenizer, readable load errors
- ``lockstep``   the per-step decision rank 0 shares with every rank
- ``engine``     mlx-lm's BatchGenerator driven by those decisions (every rank)
- ``scheduler``  rank 0: requests in, decisions out
- ``output``     rank 0: detokenizing, stop strings, logprobs, ``Tokens``/``Done``
- ``sampling``   seeded samplers and top-logprobs
- ``stopping``   stop strings cut exactly, never emitting a possible prefix
- ``serve``      the lockstep loop
- ``lifecycle``  hello → load → serve → stopped, shutdown and exit codes
"""

#: exit codes of a runner process
EXIT_OK = 0  #: shut down as asked
EXIT_FAILED = 1  #: load or generation failed (an ``Error`` was sent first)
EXIT_USAGE = 2  #: bad command line
EXIT_ORPHANED = 3  #: the control channel closed or the parent died: orchestrator gone
