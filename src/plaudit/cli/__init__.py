"""The ``plaudit`` command."""
