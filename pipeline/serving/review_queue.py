"""The review queue of `predict --review-brat DIR`: the notes a coder must check, as brat standoff.

Each note with at least one span to review becomes `<id>.txt` (the note as read, so the offsets are those of
predict's output) and `<id>.ann`: a T line for every predicted span, the ones to review and the auto-coded ones
alike, so that the corrected file is the note's whole coding, each with an AnnotatorNotes line such as
"review: below its type's threshold 0.93; confidence 0.8123" or "auto: at or above its type's threshold 0.93;
confidence 0.9871". `annotation.conf` lists the run's entity types, so brat shows them and a coder can add a
missed entity of any type. Coders open the folder in brat or import it into INCEpTION (format: brat); the
corrected folder reads back as gold with `pipeline.data.brat.read_brat_folder`, e.g. `python -m pipeline data
--data DIR`, each document's id being its file stem (`pipeline.data.brat.brat_file_stem`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pipeline.core.files import atomic_write_text
from pipeline.data.brat import write_brat_document
from pipeline.evaluation.policy import REVIEW


def write_annotation_conf(folder: str | Path, types: Iterable[str]) -> Path:
    """brat's `annotation.conf` with the entity types and no relations, events or attributes."""
    lines = ["[entities]", *sorted(types), "[relations]", "[events]", "[attributes]"]
    return atomic_write_text(Path(folder) / "annotation.conf", "".join(line + "\n" for line in lines))


def queue_note(folder: str | Path, text: str, record: Mapping[str, Any]) -> bool:
    """Write the note of a predict record to the queue when one of its spans goes to review; True if written."""
    spans = record.get("spans") or []
    if not any(span["decision"] == REVIEW for span in spans):
        return False
    entities = [
        (
            span["start"],
            span["end"],
            span["type"],
            f"{span['decision']}: {span['reason']}; confidence {span['confidence']:.4f}",
        )
        for span in spans
    ]
    write_brat_document(folder, str(record["id"]), text, entities)
    return True
