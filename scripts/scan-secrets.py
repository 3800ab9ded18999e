#!/usr/bin/env python3
"""Scans a test run's output for secrets and card data.

Fails (exit 1) when the log holds any test secret value (every credential the tests and the
simulators use: `tests/fixtures/secret-values.txt`, plus anything containing the canary marker
`zz-secret-canary`) or a card-like number (15-19 digits in card brands' ranges, Luhn-valid, optionally grouped).
Prints how many lines it read and every hit (masked).
"""
import re
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
log_path = Path(sys.argv[1])
values = [
    v.strip()
    for v in (root / "tests/fixtures/secret-values.txt").read_text().splitlines()
    if v.strip() and not v.startswith("#")
]
CANARY = "zz-secret-canary"
CARD = re.compile(r"(?<![\w.-])(?:\d[ -]?){12,18}\d(?![\w.-])")
# Fields whose values are our own random hex ids: 16 hex characters are all digits now and then
# (a partner token id "3757792901838087" was Luhn-valid in an Amex range), which is no card.
HEX_ID_FIELDS = re.compile(r'"(?:token_id|tokenId)":"[0-9a-f]{16}"')


def luhn(digits: str) -> bool:
    total, alt = 0, False
    for d in reversed(digits):
        n = int(d)
        if alt:
            n *= 2
            if n > 9:
                n -= 9
        total += n
        alt = not alt
    return total % 10 == 0


def mask(s: str) -> str:
    return s[:4] + "…" + s[-2:] if len(s) > 8 else "…"


hits = []
lines = 0
with log_path.open(errors="replace") as f:
    for lineno, line in enumerate(f, 1):
        lines += 1
        if CANARY in line:
            hits.append((lineno, "canary secret"))
        for v in values:
            if v in line:
                hits.append((lineno, f"secret value {mask(v)}"))
        for m in CARD.finditer(HEX_ID_FIELDS.sub('"id":""', line)):
            digits = re.sub(r"\D", "", m.group(0))
            # Card brands' ranges (2 and 5 Mastercard, 3 Amex/Diners, 4 Visa, 6 Discover) at
            # card lengths; epoch timestamps (ms, ns) start with 1 and are not flagged.
            if 15 <= len(digits) <= 19 and digits[0] in "23456" and luhn(digits):
                hits.append((lineno, f"card-like number {mask(digits)}"))

print(f"secrets scan: {lines} lines of {log_path}, {len(values)} known secret values, {len(hits)} hits")
for lineno, what in hits[:50]:
    print(f"  line {lineno}: {what}")
sys.exit(1 if hits else 0)
