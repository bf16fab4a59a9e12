"""Repository maintenance, not shipped in the wheel: Lambda zips and layers (package), the README's
generated sections (readme), offline template checks (deploycheck, sam_transform)."""
