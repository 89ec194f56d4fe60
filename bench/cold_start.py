"""Run in a fresh interpreter: import one function's handler, answer one request, print the timings.

Usage: python -m bench.cold_start <function> <event-json>
"""

from __future__ import annotations

import json
import sys
import time


def main() -> None:
    started = time.perf_counter()
    from local.functions import LambdaContext, load_module

    name, event = sys.argv[1], json.loads(sys.argv[2])
    module = load_module(f"functions/{name}/")
    imported = time.perf_counter()
    response = module.handler(event, LambdaContext(function_name=name))
    done = time.perf_counter()
    status = response.get("statusCode", 200) if isinstance(response, dict) else 200
    print(json.dumps({"import_ms": (imported - started) * 1000, "total_ms": (done - started) * 1000,
                      "status": status}))


if __name__ == "__main__":
    main()
