"""schemathesis hooks for scripts/schemathesis.sh.

Drops generated requests that cannot reach a Lambda function as API Gateway delivers them:
header values that are not visible ASCII (schemathesis sends Latin-1 bytes on purpose) and
bodies that are not UTF-8 text (random bytes for JSON operations). API Gateway's event is JSON
text, and cargo lambda's emulator answers such requests itself with a plain-text 500 before the
function is invoked, which would be reported as our server error. Everything else, including
malformed but UTF-8 JSON and every schema violation, is sent.
"""
import schemathesis


def _visible_ascii(value):
    return all(0x20 <= ord(c) < 0x7F for c in value)


def _transportable(case):
    for value in (case.headers or {}).values():
        if isinstance(value, str) and not _visible_ascii(value):
            return False
    body = getattr(case, "body", None)
    if isinstance(body, (bytes, bytearray)):
        try:
            bytes(body).decode("utf-8")
        except UnicodeDecodeError:
            return False
    return True


@schemathesis.hook
def filter_case(context, case):
    return _transportable(case)
