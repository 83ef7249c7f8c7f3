"""REST with nothing but the standard library: resolve Binance BTCUSDT over AssetRegistry's REST mapping
(GET /v1/markets:resolve), then show the error model (a google.rpc.Status JSON body) on a malformed id.

python rest/rest_example.py --url http://127.0.0.1:8080      (or set CQC_REST_URL)
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

BINANCE = "ven_01JDB1NANCE000000000000000"


def get(base: str, path: str, query: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    url = base.rstrip("/") + path + ("?" + urllib.parse.urlencode(query) if query else "")
    request = urllib.request.Request(url, headers={"Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:  # 4xx/5xx: the body is a google.rpc.Status
        return error.code, json.load(error)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", default=os.environ.get("CQC_REST_URL", "http://127.0.0.1:8080"))
    args = parser.parse_args()

    # Canonical proto JSON: lowerCamelCase names, decimals as strings, enums by name.
    status, body = get(args.url, "/v1/markets:resolve", {"venueId": BINANCE, "venueSymbol": "BTCUSDT"})
    if status != 200:
        raise SystemExit(f"resolve failed: HTTP {status} {body}")
    market = body["market"]
    print(f"market_id: {market['marketId']}  tick_size: {market.get('tickSize')}  lot_size: {market.get('lotSize')}")

    # Errors: HTTP status from the gRPC code, body {"code", "message", "details": [ErrorInfo, BadRequest]}.
    status, error = get(args.url, "/v1/assets/not-an-id")
    info = next(d for d in error["details"] if d["@type"].endswith("google.rpc.ErrorInfo"))
    if status != 400 or error["code"] != 3:
        raise SystemExit(f"expected INVALID_ARGUMENT, got HTTP {status} {error}")
    print(f"malformed id: HTTP {status}, code {error['code']} (INVALID_ARGUMENT), reason {info['reason']}")


if __name__ == "__main__":
    main()
