"""I/O edge: image references, sources (registry, daemon, archives, layouts, dirs) and layers."""
