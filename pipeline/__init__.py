"""MACCROBAT clinical NER: data -> features -> train -> predict -> evaluate/analyse -> report."""

__version__ = "0.1.0"


def configure_logging() -> None:
    """INFO lines of the package on stderr; the CLI and the worker processes of `all` share it."""
    import logging
    import sys

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
