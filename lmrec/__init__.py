"""lmrec: recommendations where a language model understands items and a sequence model understands users."""

from lmrec.errors import ConfigError, DataError, LmrecError, ModelFileError, NotFittedError

__version__ = "0.1.0"
__all__ = ["ConfigError", "DataError", "LmrecError", "ModelFileError", "NotFittedError", "__version__"]
