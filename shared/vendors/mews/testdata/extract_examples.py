#!/usr/bin/env python3
"""Extracts the official JSON examples of the operations the Mews adapter uses."""
import json, sys, os
import pathlib
# Reads the spec copies next to this script; writes one file per request and response example.
base = str(pathlib.Path(__file__).parent / "spec" / "operations") + "/"
def blocks(fname, path):
    text = open(base + fname).read()
    marker = "`[PlatformAddress]/api/connector/v1/%s`" % path
    i = text.index(marker)
    # request block = first code block after marker; response = first code block after "### Response" after marker
    def code_after(pos):
        s = text.index("```javascript", pos) + len("```javascript")
        e = text.index("```", s)
        return text[s:e], e
    req, e = code_after(i)
    r = text.index("### Response", i)
    resp, _ = code_after(r)
    return req, resp
ops = [("reservations.md","reservations/getAll/2023-06-06"),("customers.md","customers/getAll"),("customers.md","customers/update"),("resources.md","resources/getAll"),("orders.md","orders/add"),("orderitems.md","orderItems/getAll"),("payments.md","payments/getAll"),("serviceordernotes.md","serviceOrderNotes/add"),("serviceordernotes.md","serviceOrderNotes/getAll"),("productserviceorders.md","productServiceOrders/getAll"),("reservations.md","reservations/updateInterval"),("configuration.md","configuration/get"),("rates.md","rates/getAll"),("resourcecategories.md","resourceCategories/getAll"),("agecategories.md","ageCategories/getAll"),("services.md","services/getAvailability/2024-01-22")]
out = sys.argv[1] if len(sys.argv) > 1 else str(pathlib.Path(__file__).parent / "examples")
os.makedirs(out, exist_ok=True)
for f, p in ops:
    req, resp = blocks(f, p)
    for kind, body in (("request", req), ("response", resp)):
        try:
            v = json.loads(body)
        except Exception as ex:
            print("BAD", p, kind, ex); continue
        name = p.replace("/", "_") + "." + kind + ".json"
        open(os.path.join(out, name), "w").write(json.dumps(v, indent=2, ensure_ascii=False) + "\n")
        print("ok", name)
