"""Generates openapi.json (the committed OpenAPI 3.1 document of the webhook function).

Run `python3 functions/webhook/openapi.py` after changing a route or a payload; the Rust tests
check the document lists exactly the routes the function serves and that every answer the
integration tests get is declared, and scripts/schemathesis.sh fuzzes the function against it.
"""
import json
def ref(n): return {"$ref": f"#/components/schemas/{n}"}
def resp(desc, schema=None, media="application/problem+json", headers=None):
    r={"description":desc}
    if schema: r["content"]={media:{"schema":schema}}
    if headers: r["headers"]=headers
    return r
corr={"X-Correlation-Id":{"description":"Correlation id of the request (logs, support).","schema":{"type":"string"}}}
retry={"Retry-After":{"description":"Seconds to wait before retrying.","schema":{"type":"integer"}}, **corr}
prob=ref("Problem")
def problem(desc, headers=None): return resp(desc, prob, headers=headers or corr)
str_=lambda mx, **k: {"type":"string","minLength":1,"maxLength":mx, **k}
money={"type":"object","required":["amount","currency"],"properties":{
  "amount":{"description":"Exact decimal in major units (\"450.00\"); at most the currency's decimals.","oneOf":[{"type":"string","maxLength":24,"pattern":"^-?[0-9]+(\\.[0-9]+)?$"},{"type":"number"}]},
  "currency":{"type":"string","minLength":3,"maxLength":3,"description":"ISO 4217 code (EUR, JPY, BHD...)."}}}
upd={"updatedAt":{"type":"string","format":"date-time","maxLength":40,"description":"When the partner last changed it (RFC 3339). Orders versions when `version` is absent; at most 5 minutes in the future."},
     "version":{"type":"integer","minimum":0,"maximum":9223372036854775807,"description":"Ordering version; larger is newer, compared across every source of the record (a night's availability is one record whichever partner pushes it). Epoch milliseconds by convention, and at most now + 1 day as epoch milliseconds (FUTURE_VERSION otherwise), so no push can outrank later updates for longer than a day. Defaults to `updatedAt` in epoch ms, else the time we received it."}}
date={"type":"string","format":"date","minLength":10,"maxLength":10,"description":"YYYY-MM-DD, the property's local date."}
booking={"type":"object","description":"A booking (reservation). Unknown fields are ignored (and logged by name). The key `items` is reserved for batches.",
 "required":["externalId","status","checkIn","checkOut"],
 "properties":{
  "externalId":{**str_(64),"description":"The partner's id; our id is `partner:<partner system>:<externalId>`. No `#` or whitespace."},
  "confirmationNumber":{**str_(64),"description":"Defaults to externalId."},
  "status":{"type":"string","enum":["confirmed","checked_in","checked_out","cancelled","no_show"]},
  "checkIn":date,"checkOut":{**date,"description":"Must be after checkIn (INVALID_DATES), at most 365 nights."},
  "arrivalTime":{"type":"string","minLength":1,"maxLength":8,"description":"HH:MM, local."},
  "departureTime":{"type":"string","minLength":1,"maxLength":8,"description":"HH:MM, local."},
  "guest":{"type":"object","properties":{"externalId":str_(64),"firstName":str_(100),"lastName":str_(100),"email":str_(254),"phone":str_(40)}},
  "roomNumber":str_(32),"roomType":str_(64),
  "adults":{"type":"integer","minimum":0,"maximum":50,"description":"Default 1."},
  "children":{"type":"integer","minimum":0,"maximum":50,"description":"Default 0."},
  "rateCode":str_(64),
  "total":{**money,"description":"Must not be negative (NEGATIVE_AMOUNT)."},
  "balance":{**money,"description":"May be negative (a guest in credit)."},
  "specialRequests":{"type":"array","maxItems":50,"items":str_(500)},
  "notes":{"type":"array","maxItems":50,"items":str_(2000)},
  **upd}}
guest={"type":"object","description":"A guest profile. Unknown fields are ignored (and logged by name).","required":["externalId"],"properties":{
  "externalId":str_(64),"firstName":str_(100),"lastName":str_(100),"email":str_(254),"phone":str_(40),"language":str_(35),"loyaltyTier":str_(64),
  "vip":{"type":"boolean"},
  "preferences":{"type":"array","maxItems":50,"items":{"type":"object","required":["category","key"],"properties":{"category":str_(64),"key":str_(64),"value":str_(2000)}}},
  **upd}}
avail={"type":"object","description":"Rooms of one type sellable on one night. Keyed by date and room type.","required":["date","roomType","available"],"properties":{
  "date":date,"roomType":str_(64),
  "available":{"type":"integer","minimum":0,"maximum":100000},
  "total":{"type":"integer","minimum":0,"maximum":100000,"description":"Rooms of the type; available may not exceed it."},
  "rate":{**money,"description":"Best available rate; must not be negative."},
  **upd}}
def batch(n): return {"type":"object","required":["items"],"properties":{"items":{"type":"array","minItems":1,"maxItems":100,"items":ref(n)}}}
item_result={"type":"object","required":["id","applied","outcome","version"],"properties":{
  "id":{"type":"string","description":"Our id of the record."},
  "applied":{"type":"boolean"},
  "outcome":{"type":"string","enum":["created","updated","not_applied"]},
  "reason":{"type":"string","enum":["older_version","unchanged","duplicate_in_batch"],"description":"Why it was not applied."},
  "version":{"type":"integer"},"storedVersion":{"type":"integer","description":"The stored version, when not applied."}}}
batch_result={"type":"object","required":["results","applied","notApplied"],"properties":{
  "results":{"type":"array","items":ref("ItemResult")},"applied":{"type":"integer"},"notApplied":{"type":"integer"}}}
problem_schema={"type":"object","description":"RFC 9457 problem details.","required":["type","title","status","detail","code","correlationId"],"properties":{
  "type":{"type":"string","format":"uri","description":"A tag URI naming the problem type."},
  "title":{"type":"string"},"status":{"type":"integer"},"detail":{"type":"string"},
  "code":{"type":"string","description":"Stable machine code, e.g. VALIDATION_FAILED, UNAUTHENTICATED, IDEMPOTENCY_KEY_REUSED."},
  "correlationId":{"type":"string"},
  "errors":{"type":"array","items":ref("FieldError")}}}
field_error={"type":"object","required":["field","code","message"],"properties":{
  "field":{"type":"string","description":"Path of the field, e.g. items[2].checkOut."},
  "code":{"type":"string","description":"INVALID_DATES, UNKNOWN_STATUS, NEGATIVE_AMOUNT, UNKNOWN_CURRENCY, REQUIRED, INVALID_TYPE, TOO_LONG, ..."},
  "message":{"type":"string"}}}
# Vendor payloads are documented by what we require; every other field is read leniently
# (ids as integers or strings, unknown fields and event types tolerated), so it is described,
# not constrained.
mews={"type":"object","description":"Mews general webhook (thin events: ids only): `Events[]` of `{Discriminator, Value: {Id}}`; `IntegrationId` is not used. Unknown discriminators are acknowledged.","required":["EnterpriseId","Events"],"properties":{
  "EnterpriseId":{"type":"string","minLength":1,"description":"Must equal the hotel's configured vendor property id."},
  "Events":{"type":"array","description":"ServiceOrderUpdated, ResourceUpdated, CustomerAdded and CustomerUpdated are refreshed; others are acknowledged."}}}
cloudbeds={"type":"object","description":"Cloudbeds webhook: one event. The property is `propertyID`, `propertyId` or their `_str` forms (integer or string) and must equal the hotel's configured property id; the entity is `reservationID`/`guestId`/`roomID` in the same spellings; `timestamp` (Unix seconds) identifies the event.","required":["event"],"properties":{
  "event":{"type":"string","minLength":1,"description":"reservation/*, guest/*, housekeeping/* are refreshed; others are acknowledged."}}}
accepted={"type":"object","required":["status","deliveryId","jobs","entities","ignored"],"properties":{
  "status":{"const":"accepted"},"deliveryId":{"type":"string"},"jobs":{"type":"integer"},"entities":{"type":"integer"},
  "ignored":{"type":"array","items":{"type":"string"},"description":"Events acknowledged without a refresh."}}}
duplicate={"type":"object","required":["status","deliveryId"],"properties":{"status":{"const":"duplicate"},"deliveryId":{"type":"string"}}}

hotel={"name":"hotelId","in":"path","required":True,"schema":{"type":"string","pattern":"^[A-Za-z0-9_-]{1,64}$"}}
secret={"name":"secret","in":"path","required":True,"description":"The hotel's webhook secret (pmsctl webhook secret).","schema":{"type":"string","minLength":1,"maxLength":128}}
idem={"name":"Idempotency-Key","in":"header","required":False,"description":"Makes a retried request answer as the first did (24 h). The same key with a different request is refused (422 IDEMPOTENCY_KEY_REUSED).","schema":{"type":"string","minLength":1,"maxLength":255,"pattern":"^[!-~]+$"}}

EXAMPLES = {
    "Booking": {"externalId": "BK-1001", "status": "confirmed", "checkIn": "2026-12-01", "checkOut": "2026-12-03",
                "guest": {"externalId": "G-77", "firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com"},
                "roomType": "KING", "adults": 2, "total": {"amount": "450.00", "currency": "EUR"},
                "updatedAt": "2026-11-20T10:00:00Z"},
    "Guest": {"externalId": "G-77", "firstName": "Ada", "lastName": "Lovelace", "email": "ada@example.com",
              "vip": True, "preferences": [{"category": "ROOM", "key": "HIGH_FLOOR"}]},
    "Availability": {"date": "2026-12-01", "roomType": "KING", "available": 3, "total": 10,
                     "rate": {"amount": "129.00", "currency": "EUR"}, "version": 1},
}

def ingest(kind, single, summary):
    return {"post":{
      "operationId":f"ingest{kind.capitalize()}","summary":summary,"tags":["partner ingestion"],
      "security":[{"partnerToken":[],"providerKey":[]}],
      "parameters":[hotel, idem],
      "requestBody":{"required":True,"content":{"application/json":{"schema":{"oneOf":[ref(single),ref(single+"Batch")]},
        "examples":{"single":{"value":EXAMPLES[single]},"batch":{"value":{"items":[EXAMPLES[single]]}}}}}},
      "responses":{
        "200":resp("Upserted (updated or not applied, and why), or a batch's results.",{"oneOf":[ref("ItemResult"),ref("BatchResult")]},"application/json",headers={**corr,"Idempotent-Replayed":{"description":"`true` when the answer is a replay.","schema":{"type":"string"}}}),
        "201":resp("Created.",ref("ItemResult"),"application/json",headers={**corr,"Idempotent-Replayed":{"description":"`true` when the answer is a replay.","schema":{"type":"string"}}}),
        "400":problem("Malformed JSON or a malformed Idempotency-Key."),
        "401":problem("No or invalid partner token (UNAUTHENTICATED) or provider key (INVALID_PROVIDER_KEY).",headers={**corr,"WWW-Authenticate":{"schema":{"type":"string"}}}),
        "403":problem("The token is not for this hotel or the hotel is not configured (FORBIDDEN_HOTEL), the hotel is disabled (HOTEL_DISABLED), or the token lacks the ingest scope (INSUFFICIENT_SCOPE)."),
        "405":problem("Method not allowed.",headers={**corr,"Allow":{"schema":{"type":"string"}}}),
        "409":problem("A request with this Idempotency-Key is in progress.",headers=retry),
        "413":problem("Body over 256 KiB."),
        "415":problem("Body not declared as application/json."),
        "422":problem("Validation failed (errors name each field) or IDEMPOTENCY_KEY_REUSED."),
        "500":problem("Unexpected failure on our side."),
        "503":problem("A dependency is unavailable; nothing was written. Retry.",headers=retry)}}}

WEBHOOK_EXAMPLES = {
    # The official Mews general webhook example (6 events).
    "MewsWebhook": json.load(open(__import__("os").path.join(__import__("os").path.dirname(__file__), "../../shared/vendors/mews/testdata/wh-general.json"))),
    "CloudbedsWebhook": json.load(open(__import__("os").path.join(__import__("os").path.dirname(__file__), "../../shared/vendors/cloudbeds/testdata/reservation-created.json"))),
}

def webhook(vendor, schema, summary):
    return {"post":{
      "operationId":f"{vendor}Webhook","summary":summary,"tags":["vendor webhooks"],
      "parameters":[hotel, secret],
      "requestBody":{"required":True,"content":{"application/json":{"schema":ref(schema),"example":WEBHOOK_EXAMPLES[schema]}}},
      "responses":{
        "202":resp("Durable: stored and refresh jobs enqueued.",ref("WebhookAccepted"),"application/json",headers=corr),
        "200":resp("A repeat of a delivery that needs nothing more.",ref("WebhookDuplicate"),"application/json",headers=corr),
        "400":problem("Malformed JSON."),
        "403":problem("The hotel does not run this vendor (PROVIDER_MISMATCH) or the property is not the hotel's (PROPERTY_NOT_CONFIGURED)."),
        "404":problem("No webhook at this address: unknown hotel, no secret configured, or a wrong secret (WEBHOOK_NOT_FOUND)."),
        "405":problem("Method not allowed.",headers={**corr,"Allow":{"schema":{"type":"string"}}}),
        "413":problem("Body over 128 KiB, or a delivery too large to store as one item (PAYLOAD_TOO_LARGE); nothing was stored."),
        "415":problem("Body declared as something other than JSON."),
        "422":problem("JSON, but not a delivery we take: missing EnterpriseId/Events, event or property; more than 1000 events (TOO_MANY_EVENTS) or 500 distinct entities (TOO_MANY_ENTITIES) in one delivery."),
        "500":problem("Unexpected failure on our side."),
        "503":problem("Not made durable in time; retry (nothing was acknowledged).",headers=retry)}}}

def nullable_optional(schema):
    """Optional request fields may be null (read as absent), as partners often send them."""
    if not isinstance(schema, dict): return
    props=schema.get("properties")
    if isinstance(props, dict):
        req=set(schema.get("required",[]))
        for name,p in props.items():
            nullable_optional(p)
            if name in req: continue
            if "type" in p and isinstance(p["type"], str): p["type"]=[p["type"],"null"]
            elif "oneOf" in p: p["oneOf"]=p["oneOf"]+[{"type":"null"}]
    if isinstance(schema.get("items"), dict): nullable_optional(schema["items"])
for sch in (booking, guest, avail): nullable_optional(sch)

doc={"openapi":"3.1.0",
 "info":{"title":"PMS integration: ingestion","version":"1.0.0","description":"Partner REST ingestion (bookings, guests, availability) and vendor webhooks (Mews, Cloudbeds). Errors are RFC 9457 problem details."},
 "servers":[{"url":"/"}],
 "paths":{
  "/openapi.json":{"get":{"operationId":"openapi","summary":"This document.","tags":["meta"],"responses":{
     "200":resp("The OpenAPI document.",{"type":"object"},"application/json",headers=corr),
     "405":problem("Method not allowed.",headers={**corr,"Allow":{"schema":{"type":"string"}}})}}},
  "/v1/hotels/{hotelId}/bookings":ingest("bookings","Booking","Upsert bookings (one, or {\"items\": [...]} of up to 100)."),
  "/v1/hotels/{hotelId}/guests":ingest("guests","Guest","Upsert guest profiles (one, or a batch of up to 100)."),
  "/v1/hotels/{hotelId}/availability":ingest("availability","Availability","Upsert availability (one, or a batch of up to 100)."),
  "/v1/webhooks/mews/{hotelId}/{secret}":webhook("mews","MewsWebhook","Mews general webhook."),
  "/v1/webhooks/cloudbeds/{hotelId}/{secret}":webhook("cloudbeds","CloudbedsWebhook","Cloudbeds webhook.")},
 "components":{
  "securitySchemes":{
    "partnerToken":{"type":"http","scheme":"bearer","description":"Partner token `pms_…` with the ingest scope for the hotel (pmsctl token create --scope ingest)."},
    "providerKey":{"type":"apiKey","in":"header","name":"X-Provider-Key","description":"The partner system's key for the hotel (pmsctl webhook partner-key)."}},
  "schemas":{"Booking":booking,"BookingBatch":batch("Booking"),"Guest":guest,"GuestBatch":batch("Guest"),
    "Availability":avail,"AvailabilityBatch":batch("Availability"),"Money":money,
    "ItemResult":item_result,"BatchResult":batch_result,"Problem":problem_schema,"FieldError":field_error,
    "MewsWebhook":mews,"CloudbedsWebhook":cloudbeds,"WebhookAccepted":accepted,"WebhookDuplicate":duplicate}}}
open(__import__('os').path.join(__import__('os').path.dirname(__file__),'openapi.json'),'w').write(json.dumps(doc,indent=2)+"\n")
