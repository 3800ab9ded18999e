"""moto's server handling one request at a time (MOTO_SERIAL=1 in scripts/with-moto.sh).

moto's own server is threaded, and its DynamoDB backend checks a condition and writes without a
lock: two concurrent `attribute_not_exists` puts of one key both succeed now and then (2 in 300
rounds of 3 concurrent puts here). DynamoDB applies each conditional write atomically. The chaos
suite's invariants rest on that (an idempotency key registers one operation, a lease has one
holder), so it runs against this server; the tests and `make dev` keep the threaded one (SQS long
polls would block this one). Usage: moto-serial.py -H HOST -p PORT
"""
import argparse
import os
import signal
import sys

from werkzeug.serving import run_simple
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    args = parser.parse_args()
    os.environ.setdefault("MOTO_PORT", str(args.port))
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    app = DomainDispatcherApplication(create_backend_app)
    run_simple(
        args.host,
        args.port,
        app,
        threaded=False,
        request_handler=MotoRequestHandler,
    )


if __name__ == "__main__":
    main()
