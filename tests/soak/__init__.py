"""The chaos soak: several web and job processes under faults, checked by invariants."""
