"""Internal helpers. Nothing here is a stable API; import from the public modules."""
