#!/usr/bin/env python3
"""Extracts the operations the Cloudbeds adapter uses from the official OpenAPI file into
`pms-v1.3-excerpt.json`, with every `$ref` resolved, so tests never read the full spec.

Usage: python3 extract_excerpt.py path/to/pms-v1.3-openapi.yaml > pms-v1.3-excerpt.json
Source: cloudbeds/openapi-specs@f6c4b9a77566cf9722c61723299a1cab40135d35 src/pms-v1.3-openapi.yaml
"""
import hashlib
import json
import sys

import yaml

OPERATIONS = [
    ("get", "/getReservation"),
    ("get", "/getReservations"),
    ("get", "/getReservationsWithRateDetails"),
    ("get", "/getGuest"),
    ("get", "/getGuestList"),
    ("get", "/getHousekeepingStatus"),
    ("post", "/postReservationNote"),
    ("post", "/postCustomItem"),
    ("put", "/putReservation"),
    ("get", "/getRatePlans"),
]


def resolve(node, schemas):
    if isinstance(node, dict):
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            return resolve(schemas[name], schemas)
        return {k: resolve(v, schemas) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(v, schemas) for v in node]
    return node


def main(path):
    raw = open(path, "rb").read()
    spec = yaml.safe_load(raw)
    schemas = spec["components"]["schemas"]
    out = {
        "source": {
            "repository": "cloudbeds/openapi-specs",
            "commit": "f6c4b9a77566cf9722c61723299a1cab40135d35",
            "path": "src/pms-v1.3-openapi.yaml",
            "sha256": hashlib.sha256(raw).hexdigest(),
        },
        "servers": spec["servers"],
        "securitySchemes": {"api_key": spec["components"]["securitySchemes"]["api_key"]},
        "description": spec["info"]["description"],
        "operations": {},
    }
    for method, p in OPERATIONS:
        op = spec["paths"][p][method]
        entry = {
            "method": method.upper(),
            "summary": op.get("summary"),
            "description": op.get("description"),
            "security": op.get("security"),
            "parameters": resolve(op.get("parameters", []), schemas),
            "responses": {
                str(code): resolve(r, schemas) for code, r in op["responses"].items()
            },
        }
        if "requestBody" in op:
            entry["requestBody"] = resolve(op["requestBody"], schemas)
        out["operations"][p] = entry
    json.dump(out, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1])
