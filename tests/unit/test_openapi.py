import json

from tests.conftest import ROOT, template
from unigate_tools.openapi import document


def test_docs_openapi_json_matches_the_code() -> None:
    checked_in = json.loads((ROOT / "docs/openapi.json").read_text())
    assert checked_in == json.loads(json.dumps(document(template()))), "run `make openapi` and commit docs/openapi.json"


def test_every_public_route_is_documented_and_secured() -> None:
    doc = document(template())
    documented = {(m.upper(), p) for p, methods in doc["paths"].items() for m in methods}
    # The admin API (IAM only) is not part of the public document; docs/operations.md describes it. Nor are
    # the console's page and static files (no JSON, no key).
    assert documented == {(r.method, r.path) for r in template().routes()
                          if not r.iam and r.function != "ConsoleFunction"}
    for methods in doc["paths"].values():
        for operation in methods.values():
            assert operation["security"] == [{"unigateKey": []}]
