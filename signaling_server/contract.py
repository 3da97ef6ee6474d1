"""The web contract: what the page and the Python side agree on, in one file.

`signaling_server/web/contract.json` holds the room-name pattern, the signaling message types,
the data-channel labels and ids, and the stats message's schema with the panel that shows it.
The page fetches it (`web/contract.js`); Python reads it here, through the package
(`importlib.resources`), so a non-editable install reads the same file the server serves.
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

CONTRACT: dict[str, Any] = json.loads(
    resources.files(__package__).joinpath("web", "contract.json").read_text(encoding="utf-8"))

ROOM_PATTERN = re.compile(CONTRACT["room"]["pattern"] + r"\Z")
ROOM_RULE: str = CONTRACT["room"]["rule"]
SIGNALING: dict[str, Any] = CONTRACT["signaling"]
CHANNELS: dict[str, dict[str, Any]] = CONTRACT["channels"]
STATS: dict[str, Any] = CONTRACT["stats"]


def stats_fields(group: str) -> tuple[str, ...]:
    """The field names of one group of the stats message (e.g. "frames", "w3c")."""
    return tuple(STATS["message"][group]["fields"])
