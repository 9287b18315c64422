#!/usr/bin/env python3
"""Checks what the linter does not: every operation of our OpenAPI documents has a summary,
a description, an example for every request and response body (on the media type or on the
schema it refers to), every error response is application/problem+json, every operation
under /v1 documents 429 (with Retry-After) and 503, and the security schemes are declared.

Usage: openapi_quality.py SPEC.json [SPEC.json ...]; exits non-zero listing every gap."""
import json
import sys


def resolve(doc, node):
    while isinstance(node, dict) and "$ref" in node:
        name = node["$ref"].split("/")[-1]
        kind = node["$ref"].split("/")[-2]
        node = doc["components"][kind][name]
    return node


def has_example(doc, media):
    if "example" in media or media.get("examples"):
        return True
    schema = resolve(doc, media.get("schema", {}))
    if "example" in schema or schema.get("examples"):
        return True
    # An array of an exemplified item, or a plain string body (metrics text), is enough.
    if schema.get("type") == "array":
        item = resolve(doc, schema.get("items", {}))
        return "example" in item or bool(item.get("examples"))
    return False


def check(path):
    doc = json.load(open(path))
    gaps = []
    schemes = doc.get("components", {}).get("securitySchemes", {})
    if not schemes:
        gaps.append("no security schemes declared")
    for route, ops in doc["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            where = f"{method.upper()} {route}"
            for key in ("summary", "description", "operationId"):
                if not op.get(key):
                    gaps.append(f"{where}: no {key}")
            for name in [n for req in op.get("security", []) for n in req]:
                if name not in schemes:
                    gaps.append(f"{where}: security scheme {name} not declared")
            body = op.get("requestBody")
            if body:
                for mime, media in body.get("content", {}).items():
                    if not has_example(doc, media):
                        gaps.append(f"{where}: request body {mime} has no example")
            responses = op.get("responses", {})
            for status, resp in responses.items():
                resp = resolve(doc, resp)
                content = resp.get("content", {})
                if status.startswith(("4", "5")):
                    if list(content) != ["application/problem+json"]:
                        gaps.append(f"{where}: {status} is not application/problem+json")
                for mime, media in content.items():
                    if not has_example(doc, media):
                        gaps.append(f"{where}: {status} {mime} has no example")
            if route.startswith("/v1"):
                for status in ("429", "503"):
                    if status not in responses:
                        gaps.append(f"{where}: {status} not documented")
                if "429" in responses:
                    headers = resolve(doc, responses["429"]).get("headers", {})
                    if "Retry-After" not in headers:
                        gaps.append(f"{where}: 429 without Retry-After header")
    return gaps


failed = False
for spec in sys.argv[1:]:
    gaps = check(spec)
    for gap in gaps:
        print(f"{spec}: {gap}")
    print(f"{spec}: {'OK' if not gaps else f'{len(gaps)} gaps'}")
    failed = failed or bool(gaps)
sys.exit(1 if failed else 0)
