"""Checks the gateway's webhook requests to a developer with twilio-python's RequestValidator.

Environment: DEVELOPER_TOKEN, CAPTURED (a JSON file: [{"method", "url", "params", "signature"}]).
"""

import json
import os

from twilio.request_validator import RequestValidator

validator = RequestValidator(os.environ["DEVELOPER_TOKEN"])
with open(os.environ["CAPTURED"], encoding="utf-8") as handle:
    captured = json.load(handle)

methods = set()
for request in captured:
    methods.add(request["method"])
    params = request["params"] if request["method"] == "POST" else {}
    assert validator.validate(request["url"], params, request["signature"]), request
    if request["method"] == "POST":
        assert "AddOns" in params, request
        add_ons = json.loads(params["AddOns"])
        assert add_ons["status"] == "successful", add_ons
        tampered = dict(params)
        tampered["Body"] = tampered["Body"] + "!"
        assert not validator.validate(request["url"], tampered, request["signature"]), request
    else:
        assert "AddOns=" not in request["url"], request
        assert not validator.validate(request["url"].replace("Body=", "Body=x"), {}, request["signature"]), request
assert methods == {"GET", "POST"}, methods
print("webhooks: ok")
