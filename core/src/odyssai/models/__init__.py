"""Models on disk: importing GGUF files as MLX model directories, and pulling known models.

``odyssai.models.gguf.import_gguf`` converts a Llama-family GGUF; ``odyssai.models.pull.pull``
fetches a model the catalog (``odyssai.models.catalog``) knows and imports it; ``odyssai.models.cli``
is the ``odyssai models`` command group. Importing this package loads nothing heavy: numpy and
tokenizers are needed only when a conversion runs.
"""
