"""Read an offline W&B run file (``run-<id>.wandb``) to check what was really logged.

The file is a W&B header (":W&B", magic, version: 7 bytes) followed by LevelDB-log framing:
32 KiB blocks of chunks, each with a 7-byte header (crc32, little-endian length, type
FULL=1 / FIRST=2 / MIDDLE=3 / LAST=4); each reassembled payload is a protobuf ``Record``.
wandb no longer ships a Python reader, so the tests carry this one.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from wandb.proto import wandb_internal_pb2

HEADER_SIZE = 7
BLOCK_SIZE = 32 * 1024
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4


def read_records(path: Path) -> list[wandb_internal_pb2.Record]:
    data = Path(path).read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    records, pending, offset = [], b"", HEADER_SIZE
    while offset + HEADER_SIZE <= len(data):
        room = BLOCK_SIZE - offset % BLOCK_SIZE
        if room < HEADER_SIZE:  # block trailer padding
            offset += room
            continue
        _, length, kind = struct.unpack("<IHB", data[offset : offset + HEADER_SIZE])
        payload = data[offset + HEADER_SIZE : offset + HEADER_SIZE + length]
        offset += HEADER_SIZE + length
        if kind == 0 and length == 0:
            continue
        pending = payload if kind in (FULL, FIRST) else pending + payload
        if kind in (FULL, LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            records.append(record)
            pending = b""
    return records


def summarize_run(path: Path) -> dict[str, Any]:
    """The run's id, group, config (nested keys joined by '.'), and history keys -> values."""
    run: dict[str, Any] = {"config": {}, "history": {}}
    for record in read_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run["id"], run["group"] = record.run.run_id, record.run.run_group
            _merge_config(run["config"], record.run.config.update)
        elif kind == "config":
            _merge_config(run["config"], record.config.update)
        elif kind == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                run["history"].setdefault(key, []).append(json.loads(item.value_json))
    return run


def _merge_config(config: dict[str, Any], items: Any) -> None:
    for item in items:
        key = item.key or ".".join(item.nested_key)
        config[key] = json.loads(item.value_json)
