"""Drives the gateway's Marketplace API with the official twilio package.

Environment: GATEWAY_URL, DEVELOPER_SID, DEVELOPER_TOKEN, ADD_ON_SID.
Only `client.marketplace.base_url` is changed.
"""

import os

from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

gateway = os.environ["GATEWAY_URL"]
add_on_sid = os.environ["ADD_ON_SID"]

client = Client(os.environ["DEVELOPER_SID"], os.environ["DEVELOPER_TOKEN"])
client.marketplace.base_url = gateway
marketplace = client.marketplace.v1

# Discover.
available = marketplace.available_add_ons.list()
assert [a.sid for a in available] == [add_on_sid], available
add_on = marketplace.available_add_ons(add_on_sid).fetch()
assert add_on.friendly_name == "sdk_addon Add-on", add_on.friendly_name
assert add_on.description == "A test Add-on"
assert add_on.pricing_type == "per use"
assert add_on.configuration_schema["properties"]["language"]["enum"] == ["en", "es"]
assert add_on.links["extensions"] == f"{gateway}/v1/AvailableAddOns/{add_on_sid}/Extensions"
extensions = marketplace.available_add_ons(add_on_sid).extensions.list()
assert [e.unique_name for e in extensions] == ["lookups", "incoming-sms", "voice-incoming"]
assert all(e.available_add_on_sid == add_on_sid for e in extensions)
one = marketplace.available_add_ons(add_on_sid).extensions(extensions[0].sid).fetch()
assert one.product_name == "Lookups"

# Install with a configuration.
installed = marketplace.installed_add_ons.create(
    available_add_on_sid=add_on_sid,
    accept_terms_of_service=True,
    configuration={"language": "es", "max_results": 3},
    unique_name="sdk_install",
)
assert installed.sid.startswith("XE") and len(installed.sid) == 34, installed.sid
assert installed.account_sid == os.environ["DEVELOPER_SID"]
assert installed.configuration == {"language": "es", "max_results": 3}
assert installed.unique_name == "sdk_install"
assert installed.friendly_name == "sdk_addon Add-on"
assert installed.date_created is not None and installed.date_created.year >= 2024

# An invalid configuration is an error the SDK raises, with Twilio's code.
try:
    marketplace.installed_add_ons.create(
        available_add_on_sid=add_on_sid,
        accept_terms_of_service=True,
        configuration={"language": "fr"},
        unique_name="rejected",
    )
    raise AssertionError("an invalid configuration was accepted")
except TwilioRestException as error:
    assert error.status == 400, error
    assert error.code == 20001, error
    assert "language" in error.msg, error.msg

# Enable an extension.
installed_extensions = marketplace.installed_add_ons(installed.sid).extensions.list()
assert [e.enabled for e in installed_extensions] == [False, False, False]
lookups = next(e for e in installed_extensions if e.unique_name == "lookups")
enabled = marketplace.installed_add_ons(installed.sid).extensions(lookups.sid).update(enabled=True)
assert enabled.enabled is True
assert enabled.installed_add_on_sid == installed.sid
again = marketplace.installed_add_ons(installed.sid).extensions(lookups.sid).fetch()
assert again.enabled is True

# Fetch, update, list, delete.
fetched = marketplace.installed_add_ons(installed.sid).fetch()
assert fetched.configuration == {"language": "es", "max_results": 3}
updated = marketplace.installed_add_ons(installed.sid).update(
    configuration={"language": "en"}, unique_name="sdk_renamed"
)
assert updated.configuration == {"language": "en"}
assert updated.unique_name == "sdk_renamed"
assert [i.unique_name for i in marketplace.installed_add_ons.list()] == ["sdk_renamed"]
assert marketplace.installed_add_ons(installed.sid).delete() is True
assert marketplace.installed_add_ons.list() == []
try:
    marketplace.installed_add_ons(installed.sid).fetch()
    raise AssertionError("a deleted install was found")
except TwilioRestException as error:
    assert error.status == 404 and error.code == 20404, error

print("marketplace: ok")
