"""MACCROBAT clinical NER: data -> features -> train -> predict -> evaluate/analyse -> report."""

__version__ = "0.1.0"
