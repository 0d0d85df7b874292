"""Error reporting to Sentry (only with SENTRY=1), with personal data left out.

The SDK sends no user, cookies or client addresses (``send_default_pii``
off) and its scrubber blanks the usual secret-named fields; we add our own
secret names (ingest keys, webhook secrets, e-mail addresses) and walk nested
data, and drop the request body, the stack frames' variables and the
logged-in user entirely: an error report needs the code path, not who sent what.
"""

import sentry_sdk
from sentry_sdk.scrubber import DEFAULT_DENYLIST, DEFAULT_PII_DENYLIST, EventScrubber

# Sentry's own list already has "secret", "password", "token" and "authorization".
OUR_SECRET_NAMES = ["key", "ingest_key", "email", "new_password1", "new_password2", "old_password",
                    "password1", "password2", "x_managair_signature", "x-managair-signature"]


def _drop_personal_data(event, hint):
    request = event.get("request")
    if request:
        request.pop("data", None)
        request.pop("cookies", None)
        request.pop("query_string", None)
        request.pop("env", None)
    event.pop("user", None)
    return event


def init(dsn: str, environment: str) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        send_default_pii=False,
        traces_sample_rate=0.0,
        # Frame variables hold SQL parameters (token keys, password hashes)
        # under names no deny-list can foresee.
        include_local_variables=False,
        event_scrubber=EventScrubber(
            denylist=DEFAULT_DENYLIST + OUR_SECRET_NAMES,
            pii_denylist=DEFAULT_PII_DENYLIST,
            recursive=True,
        ),
        before_send=_drop_personal_data,
    )
