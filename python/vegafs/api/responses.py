"""JSON responses in ASCII.

Paths are bytes on Linux and need not be UTF-8; VegaFS keeps such a byte as a lone surrogate
(``\\udcff``, Python's surrogateescape), which UTF-8 cannot encode. Responses are therefore
rendered with every non-ASCII character escaped (``\\u00e9``, ``\\udcff``): valid JSON, decoded
to the same string by any parser, and ``os.fsencode`` of a path gives its exact bytes back
(the convention of ``vegafs analyze --json``).
"""

import json
from typing import Any

from fastapi.responses import JSONResponse


def dumps(content: Any) -> str:
    return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":"))


class AsciiJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return dumps(content).encode("ascii")
