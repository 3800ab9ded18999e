#!/usr/bin/env python3
"""Extracts the OHIP spec excerpts the OHIP adapter is tested against.

Usage: extract.py <dir with oracle/hospitality-api-docs rest-api-specs/property/*.json and the
workflows Postman collection>. Writes operations.json, definitions/*.json and examples/*.json next
to this script. Tests read only the extracted files; this script is how they were made.
"""
import json
import os
import re
import sys

SRC = sys.argv[1] if len(sys.argv) > 1 else "/work/shared/vendor-specs/ohip"
OUT = os.path.dirname(os.path.abspath(__file__))

# operationId -> spec module. Every operation the adapter or the simulator speaks.
OPERATIONS = {
    "getToken": "oauth",
    "getProfile": "crm",
    "getProfiles": "crm",
    "postPreference": "crm",
    "getReservation": "rsv",
    "getHotelReservations": "rsv",
    "putReservation": "rsv",
    "getHousekeepingOverview": "hsk",
    "postBillingCharges": "csh",
    "getFolio": "csh",
    "getBusinessEvents": "int",
}

# Only what a checker needs: names, types, enums, bounds. Descriptions are dropped (size).
KEEP = {"type", "format", "enum", "items", "properties", "$ref", "allOf", "required",
        "maximum", "minimum", "maxLength", "minLength", "pattern", "collectionFormat",
        "additionalProperties", "default", "maxItems"}


def strip_props(schema):
    """Strips a schema, keeping every property name under `properties`."""
    if isinstance(schema, dict):
        out = {}
        for k, v in schema.items():
            if k == "properties":
                out[k] = {name: strip_props(p) for name, p in v.items()}
            elif k in KEEP:
                out[k] = strip_props(v)
        return out
    if isinstance(schema, list):
        return [strip_props(v) for v in schema]
    return schema


def refs(x):
    return re.findall(r"#/definitions/([A-Za-z0-9_]+)", json.dumps(x))


def main():
    specs = {m: json.load(open(os.path.join(SRC, f"{m}.json"))) for m in set(OPERATIONS.values())}
    ops = {}
    roots = {m: set() for m in specs}
    for op_id, module in OPERATIONS.items():
        spec = specs[module]
        found = None
        for path, methods in spec["paths"].items():
            for method, op in methods.items():
                if isinstance(op, dict) and op.get("operationId") == op_id:
                    found = (path, method, op)
        assert found, op_id
        path, method, op = found
        params = []
        body = None
        for p in op.get("parameters", []):
            if "$ref" in p:
                p = spec["parameters"][p["$ref"].split("/")[-1]]
            if p["in"] == "body":
                body = strip_props(p["schema"])
                roots[module].update(refs(p["schema"]))
                continue
            params.append({k: v for k, v in p.items() if k in KEEP | {"name", "in", "required"}})
        responses = {}
        for code, r in op.get("responses", {}).items():
            if "$ref" in r:
                r = spec["responses"][r["$ref"].split("/")[-1]]
            entry = {}
            if "schema" in r:
                entry["schema"] = strip_props(r["schema"])
                roots[module].update(refs(r["schema"]))
            if "headers" in r:
                entry["headers"] = sorted(r["headers"].keys())
            responses[code] = entry
        ops[op_id] = {
            "module": module,
            "method": method.upper(),
            "path": spec["basePath"] + path,
            "consumes": op.get("consumes", spec.get("consumes")),
            "parameters": params,
            "body": body,
            "responses": responses,
        }
    with open(os.path.join(OUT, "operations.json"), "w") as f:
        json.dump(ops, f, indent=1, sort_keys=True)
    os.makedirs(os.path.join(OUT, "definitions"), exist_ok=True)
    for module, spec in specs.items():
        seen, stack = set(), list(roots[module])
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            stack.extend(refs(spec["definitions"][n]))
        defs = {n: strip_props(spec["definitions"][n]) for n in sorted(seen)}
        with open(os.path.join(OUT, "definitions", f"{module}.json"), "w") as f:
            json.dump(defs, f, separators=(",", ":"), sort_keys=True)
    # Official examples the mapping is tested against.
    os.makedirs(os.path.join(OUT, "examples"), exist_ok=True)
    examples = {
        "getReservation_200.json": ("rsv", "/hotels/{hotelId}/reservations/{reservationId}", "get"),
        "getProfile_200.json": ("crm", "/profiles/{profileId}", "get"),
        "getHousekeepingOverview_200.json": ("hsk", "/hotels/{hotelId}/housekeepingOverview", "get"),
        "getBusinessEvents_200.json": ("int", "/externalSystem/{extSystemCode}/hotels/{hotelId}/businessEvents", "get"),
    }
    for name, (module, path, method) in examples.items():
        ex = specs[module]["paths"][path][method]["responses"]["200"]["examples"]["application/json"]
        with open(os.path.join(OUT, "examples", name), "w") as f:
            json.dump(ex, f, indent=1)
    # Official workflow requests (Postman collection) our requests are compared with.
    coll = json.load(open(os.path.join(SRC, "property-workflows.postman_collection.json")))
    wanted = {
        "13. Stay - postBillingCharges (car service)": "workflow_postBillingCharges.json",
        "14. Check-Out - putReservation (add departure time)": "workflow_putReservation_departure.json",
        "09. Pre-Arrival - getBusinessEvents (update room status)": "workflow_getBusinessEvents.json",
        "Get OAuth Token for Client Credentials environments": "workflow_getToken.json",
        "Get OAuth Token for Resource Owner environments": "workflow_getToken_password.json",
    }

    def walk(items):
        for it in items:
            if "item" in it:
                walk(it["item"])
            elif it["name"] in wanted:
                r = it["request"]
                out = {
                    "name": it["name"],
                    "method": r["method"],
                    "url": r["url"]["raw"] if isinstance(r["url"], dict) else r["url"],
                    "headers": [h["key"] for h in r.get("header", [])],
                    "auth": (r.get("auth") or {}).get("type"),
                }
                body = r.get("body") or {}
                if body.get("mode") == "raw" and body.get("raw", "").strip():
                    out["body"] = body["raw"]
                if body.get("mode") == "urlencoded":
                    out["form"] = [kv["key"] for kv in body["urlencoded"]]
                with open(os.path.join(OUT, "examples", wanted[it["name"]]), "w") as f:
                    json.dump(out, f, indent=1)

    walk(coll["item"])


if __name__ == "__main__":
    main()
