"""Schemathesis hooks for tests/test_schemathesis.py (loaded by `st run` through
SCHEMATHESIS_HOOKS): each operation gets the token its security names, so fuzzing reaches
the handlers instead of stopping at 401.

- `oauth2: [platform:admin]`: the operator's token;
- any other `oauth2` scope: the onboarded tenant's token (it holds every tenant scope);
- a CloudEvent intake (`senderToken`): that function's sender token;
- `security: []` and the OAuth endpoints: nothing (they authenticate what they are sent).

Generic over docs/openapi.json: an operation added later is covered by the rule for its
security, with no change here."""

from __future__ import annotations

import json
import os

import schemathesis


@schemathesis.auth()
class KopruTokens:
    def get(self, case, context):
        return json.loads(os.environ["KOPRU_ST_TOKENS"])

    def set(self, case, data, context):
        raw = case.operation.definition.raw
        for requirement in raw.get("security") or []:
            scopes = requirement.get("oauth2")
            if scopes is not None:
                token = data["operator"] if "platform:admin" in scopes else data["tenant"]
                break
            if "senderToken" in requirement:
                tag = (raw.get("tags") or [""])[0]
                token = data["senders"].get(tag)
                break
        else:
            return
        if token:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
