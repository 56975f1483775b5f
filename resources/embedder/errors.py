"""Why an embedder cannot make vectors."""


class EmbedderUnavailableError(RuntimeError):
    """The configured embedding model cannot be loaded or reached here; the message says what to do."""


class ModelChecksumError(EmbedderUnavailableError):
    """A model file's sha256 is not the pinned one."""
