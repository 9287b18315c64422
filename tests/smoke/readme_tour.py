#!/usr/bin/env python3
"""Walks the README's five-minute tour against a running `federation up`.

Reads .federation/session.env and sample-children.json, searches for the first sample
child, reads the view, reads it as the other school's DSL (existence only) and by
break-glass, stops the police node and checks its section turns unavailable.
Standard library only.
"""
import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request

from smoke_session import Checks, session

env, sample = session(sys.argv)
ctx = ssl.create_default_context(cafile=env["CA_CERT"])


def call(method, path, token, body=None):
    req = urllib.request.Request(
        env["GATEWAY_URL"] + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


check = Checks()
query = {"identifiers": sample["identifiers"], "demographics": sample["demographics"]}
status, found = call("POST", "/v1/children:search?purpose=safeguarding&legal_basis=public_task", env["TOKEN_DSL"], query)
check("search answers 200", status == 200, found)
held = sorted(a["agency_id"] for a in found.get("agencies", []) if a["status"] == "held")
check("search finds the expected agencies", held == sorted(sample["expected_agencies"]), held)

view_path = f"/v1/children/{found.get('reference')}/view?purpose=safeguarding&legal_basis=public_task"
status, view = call("GET", view_path, env["TOKEN_DSL"])
check("view answers 200", status == 200, view)
ok = sorted(s["agency_id"] for s in view.get("sections", []) if s["status"] == "ok")
check("every holding agency answers", ok == sorted(sample["expected_agencies"]), ok)
check("chronology spans 3+ agencies", len({e["agency_id"] for e in view.get("chronology", [])}) >= 3)

# The DSL of the other school has no relationship with the child: existence only.
status, found_b = call("POST", "/v1/children:search?purpose=safeguarding&legal_basis=public_task", env["TOKEN_DSL_SCHOOL_B"], query)
check("unrelated DSL's search answers 200", status == 200, found_b)
path_b = f"/v1/children/{found_b.get('reference')}/view?purpose=safeguarding&legal_basis=public_task"
status, view_b = call("GET", path_b, env["TOKEN_DSL_SCHOOL_B"])
others = [s for s in view_b.get("sections", []) if s["agency_id"] in sample["expected_agencies"] and s["agency_id"] != "school-b"]
check("unrelated DSL: every holding agency withheld", others and all(s["status"] == "withheld" and not s["records"] for s in others), others)
check("unrelated DSL: the answer says no_relationship with a contact route",
      all(s.get("contact") and any(d.get("withheld") == "no_relationship" for d in s["disclosure"]) for s in others), others)

# Break-glass: an override with a reason, flagged; without a reason, 400 naming it.
status, problem = call("GET", path_b.replace("legal_basis=public_task", "legal_basis=safeguarding_override"), env["TOKEN_DSL_SCHOOL_B"])
check("break-glass without a reason is a 400 naming reason", status == 400 and problem.get("errors", [{}])[0].get("field") == "reason", problem)
status, glass = call("GET", path_b.replace("legal_basis=public_task", "legal_basis=safeguarding_override&reason=child%20disclosed%20harm"), env["TOKEN_DSL_SCHOOL_B"])
check("break-glass view answers 200, flagged", status == 200 and glass.get("break_glass") is True, glass)
social = [s for s in glass.get("sections", []) if s["agency_id"] == "social-care"]
check("break-glass: social care shares under the override", social and social[0]["status"] == "ok" and social[0]["override_used"], social)

# A concern from school A's MIS to the front door, decided there, and the outcome back.
node_ctx = {}


def node_call(node, method, path, body=None):
    key = node.upper().replace("-", "_")
    if key not in node_ctx:
        c = ssl.create_default_context(cafile=env["CA_CERT"])
        c.load_cert_chain(env["INTEGRATION_CERT_" + key], env["INTEGRATION_KEY_" + key])
        node_ctx[key] = c
    req = urllib.request.Request(
        env["NODE_URL_" + key] + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, context=node_ctx[key], timeout=30) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        return e.code, json.load(e)


concern = {
    "local_id": sample["local_ids"]["school-a"],
    "seen_or_heard": "Arrived with a bruise on the left cheek; said it happened at home.",
    "seen_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "childs_words": "Dad was really angry.", "categories": ["physical_abuse"], "immediate_risk": True,
    "parents_told": False, "parents_not_told_because": "Could put the child at greater risk.",
    "consent": False, "lawful_basis": "Safeguarding: risk of significant harm.",
    "referrer": {"name": "Designated safeguarding lead", "role": "dsl", "phone": "01632 960001"},
}
status, raised = node_call("school-a", "POST", "/v1/concerns", concern)
check("concern accepted (202) at the social care front door", status == 202 and raised.get("front_door", {}).get("agency_id") == "social-care", raised)
check("immediate risk: the answer says to call the front door", "01632 960100" in raised.get("call_now", ""), raised)
status, inbox = node_call("social-care", "GET", "/v1/concerns?side=received")
check("front door has it with a deadline", status == 200 and any(i["id"] == raised.get("id") and i.get("deadline") for i in inbox.get("items", [])), inbox)
status, decided = node_call("social-care", "POST", f"/v1/concerns/{raised.get('id')}/decision", {
    "decision": "assessment", "decided_by": "Front door team manager", "duty_line": "01632 960150",
    "allocated_worker": "Social worker, assessment team", "advice": "The social worker will call you today."})
check("decision recorded", status == 200 and decided.get("status") == "decided", decided)
for _ in range(50):
    status, mine = node_call("school-a", "GET", f"/v1/concerns/{raised.get('id')}")
    if mine.get("status") == "decided":
        break
    time.sleep(0.2)
check("the school has the outcome", mine.get("status") == "decided" and mine["outcomes"][0]["decision"] == "assessment", mine)

os.kill(int(env["PID_POLICE"]), 15)
time.sleep(1.5)
status, view = call("GET", view_path, env["TOKEN_DSL"])
police = [s for s in view.get("sections", []) if s["agency_id"] == "police"]
check("view still answers with police stopped", status == 200, view)
check("police marked unavailable", police and police[0]["status"] == "unavailable", police)

status, problem = call("GET", view_path.replace("purpose=safeguarding&", ""), env["TOKEN_DSL"])
check("view without a purpose is a 400 problem", status == 400, problem)

check.finish()
