"""The raw layer: every source table landed in the warehouse as ``raw/<source>/<table>``."""
