#!/usr/bin/env python3
"""Searches for a sample child and reads their view through a client generated from
openapi/gateway.json by openapi-python-client (package `child_view_gateway_client`,
on PYTHONPATH), against a running `federation up` whose folder is argv[1].

Checks that the typed answers parse into the generated models (a spec that disagrees
with the service fails here) and that a bad token comes back as a typed Problem."""
import sys

from child_view_gateway_client import AuthenticatedClient
from child_view_gateway_client.api.children import search, view
from child_view_gateway_client.models import (
    ChildQuery,
    ChildView,
    LegalBasis,
    Problem,
    Purpose,
    SearchResponse,
)

from smoke_session import Checks, session

env, sample = session(sys.argv)
check = Checks()


def client(token):
    return AuthenticatedClient(
        base_url=env["GATEWAY_URL"], token=token, verify_ssl=env["CA_CERT"], timeout=None,
        raise_on_unexpected_status=True,
    )


query = ChildQuery.from_dict(
    {"identifiers": sample["identifiers"], "demographics": sample["demographics"]}
)
with client(env["TOKEN_DSL"]) as api:
    found = search.sync_detailed(
        client=api, body=query, purpose=Purpose.SAFEGUARDING, legal_basis=LegalBasis.PUBLIC_TASK
    )
    check("search answers 200", found.status_code == 200, found.content[:300])
    check("search parses as SearchResponse", isinstance(found.parsed, SearchResponse), found.parsed)
    held = sorted(a.agency_id for a in found.parsed.agencies if a.status.value == "held")
    check("search finds the expected agencies", held == sorted(sample["expected_agencies"]), held)

    shown = view.sync_detailed(
        found.parsed.reference,
        client=api,
        purpose=Purpose.SAFEGUARDING,
        legal_basis=LegalBasis.PUBLIC_TASK,
    )
    check("view answers 200", shown.status_code == 200, shown.content[:300])
    check("view parses as ChildView", isinstance(shown.parsed, ChildView), shown.parsed)
    ok = sorted(s.agency_id for s in shown.parsed.sections if s.status.value == "ok")
    check("every holding agency answers in the view", ok == sorted(sample["expected_agencies"]), ok)

with client("not-a-token") as api:
    refused = search.sync_detailed(
        client=api, body=query, purpose=Purpose.SAFEGUARDING, legal_basis=LegalBasis.PUBLIC_TASK
    )
    check("a bad token is a 401", refused.status_code == 401, refused.status_code)
    check("the 401 parses as a Problem", isinstance(refused.parsed, Problem), refused.parsed)

check.finish("generated client: ")
