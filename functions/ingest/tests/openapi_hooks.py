"""schemathesis hooks for `openapi.rs`: the rules of docs/openapi.yaml that JSON Schema
cannot state.

The user route takes at most 30 buttons in all, `reply_markup.inlineKeyboard`'s rows and the
legacy `buttons` together (the contract's "Limit 30 buttons"), and so do the group route and an
edit (`PATCH /{token}/messages/{id}`). The document bounds each row and each list, not their
sum, so a body the schema allows may still carry more than 30 buttons; the gateway's 400 for
such a body is the contract's answer, not a failure.

The EventBridge routes take any text in a `text/plain` body (an input transformer's text). A
"schema-violating" value schemathesis makes for it (a number, an object) is sent as its text,
which is a valid text again: the route accepting it is what the document says."""

import schemathesis

MAX_BUTTONS = 30


def buttons(body):
    """How many buttons a body carries, as the gateway counts them."""
    if not isinstance(body, dict):
        return 0
    count = 0
    markup = body.get("reply_markup")
    if isinstance(markup, dict) and isinstance(markup.get("inlineKeyboard"), list):
        count += sum(len(row) for row in markup["inlineKeyboard"] if isinstance(row, list))
    if isinstance(body.get("buttons"), list):
        count += len(body["buttons"])
    return count


def description(response):
    try:
        return response.json().get("description")
    except Exception:
        return None


def text_taken_as_text(failure, case, response):
    """An EventBridge route accepted a text/plain body that is text once sent, whatever value
    schemathesis meant it to be."""
    media_type = (getattr(case, "media_type", None) or "").lower()
    return (
        failure.code == "ST201"
        and response.status_code == 200
        and case.path.endswith("/events")
        and media_type.startswith("text/plain")
        and str(case.body).strip() != ""
    )


@schemathesis.hook
def filter_failure(context, failure, case, response):
    """Every failure stands, but a schema-valid body refused for carrying more than 30 buttons,
    and a text/plain body an EventBridge route took as the text it is."""
    refused_for_buttons = (
        failure.code == "ST202"
        and response.status_code == 400
        and description(response) == "Limit 30 buttons"
        and buttons(case.body) > MAX_BUTTONS
    )
    return not (refused_for_buttons or text_taken_as_text(failure, case, response))
