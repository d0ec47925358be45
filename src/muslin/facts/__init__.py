"""Pure core: what an image contains, read from a :class:`~muslin.facts.tree.FileTree`."""
