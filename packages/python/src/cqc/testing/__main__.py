"""``python -m cqc.testing --port 0 --port-file FILE [--testdata DIR]``: run a reference server until SIGTERM or
SIGINT, seeded from DIR's examples, or without --testdata from the seed data shipped in the package. Prints
``cqc.testing listening on HOST:PORT`` once serving and writes PORT to ``--port-file``."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from cqc.testing._server import ReferenceServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cqc.testing", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=50051, help="port to listen on; 0 picks a free one")
    parser.add_argument("--port-file", type=Path, help="write the bound port to this file once serving")
    parser.add_argument(
        "--testdata", type=Path, default=None, help="testdata directory (examples/); default: the packaged seed data"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="cqc.testing: %(message)s")

    try:
        server = ReferenceServer(args.testdata, host=args.host, port=args.port).start()
    except (OSError, RuntimeError) as error:
        print(f"cqc.testing: {error}", file=sys.stderr)
        return 1
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if args.port_file is not None:
        partial = args.port_file.with_name(args.port_file.name + f".{os.getpid()}.tmp")
        partial.write_text(f"{server.port}\n")
        partial.replace(args.port_file)  # atomic: readers never see a half-written file
    print(f"cqc.testing listening on {server.target}", flush=True)
    while not stop.wait(0.5):
        pass
    server.stop(grace=1.0)
    print("cqc.testing stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
