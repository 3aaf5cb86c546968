"""plaudit: self-hosted human feedback for LLM output.

The package root is the SDK surface (see :mod:`plaudit.sdk`). Server code lives in the
subpackages and is never imported from here, so ``import plaudit`` stays cheap for apps.
"""

__version__ = "0.1.0"
