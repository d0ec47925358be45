"""I/O edge: how results are shown (rich tables on a TTY, plain text otherwise, JSON)."""
