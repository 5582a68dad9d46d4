"""Read an offline W&B run (`run-<id>.wandb`) back from disk, for tests.

The file is W&B's LevelDB-style log: a 7-byte header (`:W&B`, magic 0xBEE1, version), then
32 KiB blocks of records, each with a 7-byte header (crc32, length, type FULL/FIRST/MIDDLE/LAST)
and a protobuf `Record`. Recent wandb releases dropped their Python reader, so tests carry this one.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

BLOCK = 32768
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def records(path: str | Path) -> list[Any]:
    from wandb.proto import wandb_internal_pb2 as pb

    data = Path(path).read_bytes()
    ident, magic, _version = struct.unpack("<4sHB", data[:7])
    if ident != b":W&B" or magic != 0xBEE1:
        raise ValueError(f"{path} is not a W&B run file")
    position, pending, out = 7, b"", []
    while position + 7 <= len(data):
        room = BLOCK - position % BLOCK
        if room < 7:
            position += room
            continue
        _crc, length, kind = struct.unpack("<IHB", data[position : position + 7])
        if kind == 0 and length == 0:
            position += room  # zero padding to the end of the block
            continue
        chunk = data[position + 7 : position + 7 + length]
        position += 7 + length
        if kind == FULL:
            pending = chunk
        elif kind == FIRST:
            pending = chunk
            continue
        elif kind == MIDDLE:
            pending += chunk
            continue
        else:
            pending += chunk
        record = pb.Record()
        record.ParseFromString(pending)
        out.append(record)
        pending = b""
    return out


def read_offline_run(run_file: str | Path) -> dict[str, Any]:
    """{"name", "project", "config", "history": [dict], "summary": dict, "artifacts": [(name, type, paths)]}"""

    def key(item: Any) -> str:
        return item.key or "/".join(item.nested_key)

    run: dict[str, Any] = {"config": {}, "history": [], "summary": {}, "artifacts": []}
    for record in records(run_file):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["name"], run["project"] = record.run.display_name, record.run.project
            run["config"].update({key(i): json.loads(i.value_json) for i in record.run.config.update})
        elif kind == "config":
            run["config"].update({key(i): json.loads(i.value_json) for i in record.config.update})
        elif kind == "history":
            run["history"].append({key(i): json.loads(i.value_json) for i in record.history.item})
        elif kind == "summary":
            run["summary"].update({key(i): json.loads(i.value_json) for i in record.summary.update})
        elif kind == "artifact":
            run["artifacts"].append(
                (
                    record.artifact.name,
                    record.artifact.type,
                    [entry.path for entry in record.artifact.manifest.contents],
                )
            )
    return run
