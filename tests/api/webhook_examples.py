"""Sends each signed webhook route its documented example, signed as its provider would
sign it, and validates the answer against the document (status documented, content type,
body schema). Run by tests/api_conformance.rs: the fuzzer cannot sign these requests.

Usage: webhook_examples.py BASE_URL TENANT SIGNING_SECRET TWILIO_TOKEN VAPI_SECRET
Prints one line per request and exits non-zero on the first mismatch.
"""

import base64
import hashlib
import hmac
import json
import sys
import time
import urllib.parse

import requests
import schemathesis

base, tenant, signing_secret, twilio_token, vapi_secret = sys.argv[1:6]
schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
document = requests.get(f"{base}/openapi.json", timeout=10).json()


def example(path, method="post"):
    body = document["paths"][path][method]["requestBody"]
    (media_type, content), = body["content"].items()
    return media_type, content["example"]


def standard_webhooks(event_id, body):
    key = base64.b64decode(signing_secret.removeprefix("whsec_"))
    timestamp = str(int(time.time()))
    mac = hmac.new(key, f"{event_id}.{timestamp}.".encode() + body, hashlib.sha256)
    return {
        "webhook-id": event_id,
        "webhook-timestamp": timestamp,
        "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
    }


def twilio(url, params):
    signed = url + "".join(k + v for k, v in sorted(params.items()))
    mac = hmac.new(twilio_token.encode(), signed.encode(), hashlib.sha1)
    return {"X-Twilio-Signature": base64.b64encode(mac.digest()).decode()}


def send(template, media_type, body, headers, expect, query=""):
    path = template.replace("{tenant}", tenant) + query
    response = requests.post(
        base + path, data=body, headers={"Content-Type": media_type, **headers}, timeout=30
    )
    schema[template]["POST"].validate_response(response)
    print(f"POST {path} -> {response.status_code} {response.text[:120]}")
    if response.status_code != expect:
        sys.exit(f"expected {expect} from {path}")
    return response


# The signal opens the tenant's first case, which the Vapi example's metadata names.
media_type, signal = example("/v1/tenants/{tenant}/signals")
body = json.dumps(signal).encode()
opened = send("/v1/tenants/{tenant}/signals", media_type, body, standard_webhooks("evt-example-1", body), 202)
case = opened.json()["case"]
again = send("/v1/tenants/{tenant}/signals", media_type, body, standard_webhooks("evt-example-1", body), 202)
assert again.json() == {"result": "duplicate"}, again.text

media_type, report = example("/v1/tenants/{tenant}/vapi")
report["message"]["call"]["metadata"]["case_id"] = case
send("/v1/tenants/{tenant}/vapi", media_type, json.dumps(report).encode(), {"X-Vapi-Secret": vapi_secret}, 200)

for route, expect in [("/v1/tenants/{tenant}/twilio/voice-status", 202), ("/v1/tenants/{tenant}/twilio/sms", 200)]:
    media_type, params = example(route)
    url = base + route.replace("{tenant}", tenant)
    send(route, media_type, urllib.parse.urlencode(params), twilio(url, params), expect)

# The message status example names a message by its key in the query, as Redial's own
# StatusCallback URLs do; the example case sent no fallback message, so it is unknown (404).
route = "/v1/tenants/{tenant}/twilio/sms-status"
media_type, params = example(route)
query = "?key=" + urllib.parse.quote(f"{case}/fallback-sms", safe="")
url = base + route.replace("{tenant}", tenant) + query
send(route, media_type, urllib.parse.urlencode(params), twilio(url, params), 404, query)

# This tenant's voice provider is the simulator: a Retell event, however signed, is refused.
media_type, event = example("/v1/tenants/{tenant}/retell")
send("/v1/tenants/{tenant}/retell", media_type, json.dumps(event).encode(),
     {"X-Retell-Signature": f"v={int(time.time() * 1000)},d={'0' * 64}"}, 401)

# Wrong proofs are refused as documented.
send("/v1/tenants/{tenant}/signals", "application/json", body, standard_webhooks("evt-x", b"{}"), 401)
send("/v1/tenants/{tenant}/vapi", "application/json", b"{}", {"X-Vapi-Secret": "wrong"}, 401)
print("webhook examples: all answered as documented")
