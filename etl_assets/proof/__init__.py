"""The proof layer: the recommended layout measured against a naive one (bytes on disk, query times)."""
