"""Checks the gateway's publisher requests with twilio-python's RequestValidator, then runs a
Lookup with Add-ons through the official client.

Environment: GATEWAY_URL, DEVELOPER_SID, DEVELOPER_TOKEN, PUBLISHER_TOKEN, CAPTURED (a JSON
file: [{"carrier", "url", "form" (object or null), "body", "signature"}]).
Only `client.lookups.base_url` is changed.
"""

import json
import os

from twilio.request_validator import RequestValidator
from twilio.rest import Client

validator = RequestValidator(os.environ["PUBLISHER_TOKEN"])
with open(os.environ["CAPTURED"], encoding="utf-8") as handle:
    captured = json.load(handle)

carriers = set()
for request in captured:
    carriers.add(request["carrier"])
    params = request["form"] if request["form"] is not None else request["body"]
    if request["carrier"] == "query":
        params = {}
    assert validator.validate(request["url"], params, request["signature"]), request
    # Anything changed breaks the signature.
    assert not validator.validate(request["url"] + "&x=1", params, request["signature"]), request
    if isinstance(params, dict) and params:
        tampered = dict(params)
        first = sorted(tampered)[0]
        tampered[first] = tampered[first] + "0"
        assert not validator.validate(request["url"], tampered, request["signature"]), request
    elif isinstance(params, str):
        assert not validator.validate(request["url"], params + " ", request["signature"]), request
assert carriers == {"form", "query", "json"}, carriers

client = Client(os.environ["DEVELOPER_SID"], os.environ["DEVELOPER_TOKEN"])
client.lookups.base_url = os.environ["GATEWAY_URL"]
number = client.lookups.v1.phone_numbers("+18778894546").fetch(
    add_ons=["sdk_json", "sdk_form"],
    add_ons_data={"sdk_json": {"dob": "1970-01-01"}},
)
assert number.phone_number == "+18778894546", number.phone_number
assert number.national_format == "(877) 889-4546", number.national_format
assert number.country_code == "US"
add_ons = number.add_ons
assert add_ons["status"] == "successful", add_ons
json_result = add_ons["results"]["sdk_json"]
assert json_result["status"] == "successful", json_result
assert json_result["request_sid"].startswith("XR"), json_result
assert json_result["result"]["params"]["number"] == "+18778894546", json_result
assert json_result["result"]["params"]["dob"] == "1970-01-01", json_result
assert add_ons["results"]["sdk_form"]["result"]["params"]["number"] == "+18778894546", add_ons
assert list(add_ons["results"]) == ["sdk_json", "sdk_form"], add_ons

plain = client.lookups.v1.phone_numbers("5108675310").fetch()
assert plain.phone_number == "+15108675310" and plain.add_ons is None, plain.add_ons

print("signatures and lookup: ok")
