"""`unigate dev`: the local gateway on the embedded default, or on the AWS your environment names."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from unigate_tools.template import PROJECT_ROOT, Template

# Where a running local server says how to reach it (its URL, its embedded AWS endpoint, table names),
# for `unigate --local`. UNIGATE_STATE_DIR moves it (tests run several servers at once).
STATE_DIR = Path(os.environ.get("UNIGATE_STATE_DIR") or PROJECT_ROOT / ".unigate")
STATE_FILE = STATE_DIR / "dev.json"


# The embedded store's journal (unigate_tools.persistence), and the demo key, so both survive a restart.
JOURNAL_FILE = STATE_DIR / "store.jsonl"
DEMO_KEY_FILE = STATE_DIR / "demo-key"


def prepare(*, dev_key: str | None, external: bool, fresh: bool = False) -> dict[str, Any]:
    """Sets up AWS (embedded unless `external`), the functions' environment, tables and demo data; the
    embedded store comes back from the state directory unless `fresh`."""
    from unigate.domain import keys

    if dev_key and not keys.is_well_formed(dev_key):
        raise SystemExit(
            "UNIGATE_DEV_KEY is not a unigate key (ug_ + 32 base62 characters + a checksum).\n"
            f"Use one made by `unigate keys generate`, for example: {keys.generate_key()}"
        )
    template = Template()
    os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
    # EMF lines would drown the local server's output; CloudWatch is where they belong.
    os.environ.setdefault("POWERTOOLS_METRICS_DISABLED", "true")
    os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "unigate-local")
    # A deployment made with `unigate --local deployments create` is usable at once, not after the cache.
    os.environ.setdefault("UNIGATE_DEPLOYMENT_CACHE_SECONDS", "0")
    embedded = None
    if not external:
        from unigate_tools.emulator import start_embedded

        embedded = start_embedded()
    for name, value in template.environment().items():
        os.environ.setdefault(name, value)
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")

    from unigate.infra import aws

    aws.reset()
    client = aws.client("dynamodb")
    existing = set(client.list_tables().get("TableNames", []))
    if not all(template.table_name(t) in existing for t in template.tables()):
        template.create_tables(client)
    demo = None
    if embedded:
        from unigate_tools import persistence
        from unigate_tools.seed import seed_demo

        if fresh:
            JOURNAL_FILE.unlink(missing_ok=True)
            DEMO_KEY_FILE.unlink(missing_ok=True)
        tables = [template.table_name(t) for t in template.tables()]
        persistence.restore_and_keep(JOURNAL_FILE, {"dynamodb": client,
                                                    "secretsmanager": aws.client("secretsmanager")}, tables)
        demo = seed_demo(dev_key or _kept_demo_key())
        _keep_demo_key(demo.key)
        seed_provider_secrets()
    return {"template": template, "embedded": embedded, "demo": demo}


def _kept_demo_key() -> str | None:
    return DEMO_KEY_FILE.read_text().strip() if DEMO_KEY_FILE.exists() else None


def _keep_demo_key(key: str) -> None:
    """The demo key's plaintext, readable by its owner only, so that it stays the same across restarts (the
    store keeps only its hash)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(DEMO_KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as out:
        out.write(key + "\n")


def seed_provider_secrets() -> list[str]:
    """Copies provider keys from the usual environment variables (OPENAI_API_KEY...) into the embedded
    Secrets Manager, where the functions read them as they would on AWS."""
    from unigate.catalog.entries import get_catalog
    from unigate.infra import aws
    from unigate.infra.config import get_settings

    seeded = []
    prefix = get_settings().provider_secret_prefix
    for provider in get_catalog().providers.values():
        value = os.environ.get(provider.env or "") if provider.env else None
        if provider.secret and value:
            name = prefix + provider.secret
            try:
                aws.client("secretsmanager").create_secret(Name=name, SecretString=value)
            except aws.client("secretsmanager").exceptions.ResourceExistsException:
                continue
            seeded.append(provider.name)
    return seeded


def write_state(info: dict[str, Any], url: str) -> None:
    template: Template = info["template"]
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    state = {
        "url": url,
        "pid": os.getpid(),
        "aws_endpoint_url": info["embedded"].endpoint_url if info["embedded"] else None,
        "tables": {
            "keys": os.environ["UNIGATE_KEYS_TABLE"],
            "accounts": os.environ["UNIGATE_ACCOUNTS_TABLE"],
            "ledger": os.environ["UNIGATE_LEDGER_TABLE"],
            "spend": os.environ["UNIGATE_SPEND_TABLE"],
        },
        "stage": template.stage(),
    }
    STATE_FILE.write_text(json.dumps(state, indent=2))


def banner(info: dict[str, Any], url: str) -> str:
    template: Template = info["template"]
    demo = info["demo"]
    # The console first: it is where a new user starts (sign in there with the demo key below).
    lines = [f"console  {url}/", f"unigate local gateway on {url}", ""]
    lines.append("routes (from template.yaml):")
    for route in template.routes():
        lines.append(f"  {route.method:6} {route.path:28} -> {route.function}")
    if demo:
        lines += [
            "",
            f"demo account {demo.account_id}, {_balance(demo.account_id)} credits",
            f"demo key     {demo.key}",
            "",
            "try:",
            f'  curl -H "Authorization: Bearer {demo.key}" {url}/v0/credits',
        ]
    if info["embedded"]:
        lines += ["", f"embedded AWS (moto) at {info['embedded'].endpoint_url}; `unigate --local ...` manages it"]
    return "\n".join(lines)


def _balance(account_id: str) -> str:
    from unigate.accounts import billing

    return str(billing.credits_of(account_id)["credits"])


def run(host: str, port: int, *, dev_key: str | None, external: bool, fresh: bool = False) -> None:
    import uvicorn

    info = prepare(dev_key=dev_key, external=external, fresh=fresh)
    from unigate_tools.server import LocalApi

    api = LocalApi(info["template"])
    url = f"http://{host}:{port}"
    write_state(info, url)
    print(banner(info, url), flush=True)
    try:
        uvicorn.run(api, host=host, port=port, log_level="warning", lifespan="on", access_log=False)
    finally:
        if STATE_FILE.exists() and json.loads(STATE_FILE.read_text()).get("pid") == os.getpid():
            Path(STATE_FILE).unlink()
        if info["embedded"]:
            from unigate_tools import persistence

            persistence.stop()
            info["embedded"].stop()
