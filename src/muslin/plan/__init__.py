"""Pure core: the plan (what happens to every package) and its serialisations."""
