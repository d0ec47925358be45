"""I/O edge: package indexes (collector -> evaluator -> finder), unearth-style."""
