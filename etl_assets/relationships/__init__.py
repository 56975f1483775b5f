"""The relationships layer: candidate keys and foreign-key candidates across every landed table."""
