"""The ring transport: MLX's TCP collectives over Ethernet."""
