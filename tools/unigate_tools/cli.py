"""The `unigate` admin CLI: the local server, accounts, keys and credits.

It works against a deployed stack with your normal AWS credentials (`--stack NAME` reads the table
names from the stack's outputs, or pass `--keys-table` etc.), and against a running local server's
embedded store (`--local`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any


def admin() -> Any:
    from unigate.accounts import admin as operations

    return operations


# How results are printed: a readable table, or JSON with --json (set once by main).
_as_json = [False]


def _print(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str) if _as_json[0] else render(data))


def _cell(value: Any) -> str:
    if isinstance(value, dict | list):
        return json.dumps(value, default=str, separators=(",", ":"))
    return "" if value is None else str(value)


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "(none)"
    columns = list(dict.fromkeys(column for row in rows for column in row))
    cells = [[_cell(row.get(column)) for column in columns] for row in rows]
    widths = [max(len(column), *(len(line[i]) for line in cells)) for i, column in enumerate(columns)]
    lines = [columns, ["-" * width for width in widths], *cells]
    return "\n".join("  ".join(text.ljust(width) for text, width in zip(line, widths, strict=True)).rstrip()
                     for line in lines)


def render(data: Any) -> str:
    """A result for people: a list of records as a table; a record as `field  value` lines, with a list
    inside it (a ledger's entries, a run's plans) as a table below them."""
    if isinstance(data, list):
        return _table([row if isinstance(row, dict) else {"value": row} for row in data])
    if not isinstance(data, dict):
        return _cell(data)
    scalars = {k: v for k, v in data.items() if not (isinstance(v, list) and all(isinstance(r, dict) for r in v))}
    width = max((len(k) for k in scalars), default=0)
    parts = ["\n".join(f"{k.ljust(width)}  {_cell(v)}" for k, v in scalars.items())] if scalars else []
    parts += [f"{k}:\n{_table(v)}" for k, v in data.items() if k not in scalars]
    return "\n\n".join(parts)


def _use_local() -> None:
    from unigate_tools.emulator import FAKE_CREDENTIALS
    from unigate_tools.runner import STATE_FILE

    if not STATE_FILE.exists():
        raise SystemExit("No local server is running (start one with `make dev`).")
    state = json.loads(STATE_FILE.read_text())
    if not state.get("aws_endpoint_url"):
        raise SystemExit("The local server is not using the embedded store; target its AWS directly.")
    os.environ.update(FAKE_CREDENTIALS)
    os.environ["AWS_ENDPOINT_URL"] = state["aws_endpoint_url"]
    _set_tables(state["tables"]["keys"], state["tables"]["accounts"], state["tables"]["ledger"],
                state["tables"].get("spend"))


def _use_stack(stack: str) -> None:
    import boto3

    outputs = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0].get("Outputs", [])
    by_key = {o["OutputKey"]: o["OutputValue"] for o in outputs}
    _set_tables(by_key["KeysTableName"], by_key["AccountsTableName"], by_key["LedgerTableName"],
                by_key.get("SpendTableName"))


def _set_tables(keys: str | None, accounts: str | None, ledger: str | None, spend: str | None = None) -> None:
    for name, value in (("KEYS", keys), ("ACCOUNTS", accounts), ("LEDGER", ledger), ("SPEND", spend)):
        if value:
            os.environ[f"UNIGATE_{name}_TABLE"] = value


def _target(args: argparse.Namespace) -> None:
    if args.region:
        os.environ["AWS_DEFAULT_REGION"] = args.region
    if args.local:
        _use_local()
    elif args.stack:
        _use_stack(args.stack)
    _set_tables(args.keys_table, args.accounts_table, args.ledger_table, args.spend_table)


def cmd_dev(args: argparse.Namespace) -> None:
    from unigate_tools.runner import run

    port = args.port or int(os.environ.get("PORT", "3000"))
    run(args.host, port, dev_key=os.environ.get("UNIGATE_DEV_KEY") or None, external=args.external,
        fresh=args.fresh)


def cmd_accounts_create(args: argparse.Namespace) -> None:
    _print(admin().create_account(name=args.name, account_id=args.id))


def cmd_accounts_show(args: argparse.Namespace) -> None:
    _print(admin().show_account(args.account))


def cmd_accounts_status(args: argparse.Namespace) -> None:
    _print(admin().set_account_status(args.account, args.action))


def cmd_plans_create(args: argparse.Namespace) -> None:
    kind = "auto_recharge" if args.auto_recharge else "periodic"
    _print(admin().create_plan(args.account, kind=kind, period=args.period, amount=args.amount,
                               threshold=args.threshold, target=args.target, max_per_period=args.max_per_period))


def cmd_plans_list(args: argparse.Namespace) -> None:
    _print(admin().list_plans(args.account))


def cmd_plans_delete(args: argparse.Namespace) -> None:
    _print(admin().delete_plan(args.account, args.plan_id))


def cmd_topups_run(args: argparse.Namespace) -> None:
    from unigate.accounts import topups

    _print(topups.run(args.scheduled_time))


def cmd_catalog_update(args: argparse.Namespace) -> None:
    from unigate_tools import catalog

    try:
        catalog.update(args.litellm_version, crosscheck=not args.no_crosscheck)
    except catalog.source.SourceUnavailable as exc:
        raise SystemExit(f"error: {exc}") from None


def cmd_credits_topup(args: argparse.Namespace) -> None:
    from unigate.accounts import topups

    _print(topups.one_off(args.account, args.amount, args.idempotency_key))


def cmd_keys_create(args: argparse.Namespace) -> None:
    _print(admin().create_key(args.account, name=args.name, expires_in_days=args.expires_in_days,
                              allowed_models=args.allow_model, rpm=args.rpm, tpm=args.tpm, budget=args.budget,
                              budget_period=args.budget_period))


def cmd_keys_budget(args: argparse.Namespace) -> None:
    if (args.budget is None) == (not args.none):
        raise SystemExit("give --budget CREDITS (with --budget-period), or --none to remove the budget")
    _print(admin().set_key_budget(args.key_id, budget=args.budget, budget_period=args.budget_period))


def cmd_spend(args: argparse.Namespace) -> None:
    _print(admin().spend_report(args.account, group_by=args.by, start_time=args.start_time, end_time=args.end_time,
                                granularity=args.granularity))


def cmd_keys_list(args: argparse.Namespace) -> None:
    _print(admin().list_keys(args.account))


def cmd_keys_revoke(args: argparse.Namespace) -> None:
    _print(admin().revoke_key(args.key_id))


def cmd_keys_rotate(args: argparse.Namespace) -> None:
    _print(admin().rotate_key(args.key_id, grace_seconds=args.grace_seconds))


def cmd_keys_limits(args: argparse.Namespace) -> None:
    _print(admin().set_key_limits(args.key_id, rpm=args.rpm, tpm=args.tpm))


def cmd_deployments_create(args: argparse.Namespace) -> None:
    content_filter = None
    if args.content_filter:
        text = args.content_filter
        content_filter = json.loads(text if text.lstrip().startswith("{") else Path(text).read_text())
    _print(admin().create_deployment(
        args.name, args.endpoint, model_version=args.model_version, capacity_type=args.capacity_type,
        capacity_tpm=args.capacity_tpm, rpm=args.rpm, tpm=args.tpm, content_filter=content_filter,
        replace=args.replace,
    ))


def cmd_deployments_list(args: argparse.Namespace) -> None:
    _print(admin().list_deployments())


def cmd_deployments_delete(args: argparse.Namespace) -> None:
    _print(admin().delete_deployment(args.name))


def cmd_keys_generate(args: argparse.Namespace) -> None:
    from unigate.domain import keys

    print(keys.generate_key())


def cmd_credits_grant(args: argparse.Namespace) -> None:
    _print(admin().grant(args.account, args.amount, args.idempotency_key, args.note))


def cmd_credits_ledger(args: argparse.Namespace) -> None:
    _print(admin().ledger(args.account, limit=args.limit, cursor=args.cursor))


class _Parser(argparse.ArgumentParser):
    """Every command and its subcommands (made with this class too) take `--json`, anywhere among their
    arguments; unset, it leaves a value given earlier alone."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                          help="print JSON (for scripts) instead of a table")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="unigate", description=__doc__.splitlines()[0])
    target = parser.add_argument_group("target (where accounts, keys and credits live)")
    target.add_argument("--local", action="store_true", help="the running local server's embedded store")
    target.add_argument("--stack", help="a deployed stack: table names from its outputs")
    target.add_argument("--region", help="AWS region of the stack")
    target.add_argument("--keys-table")
    target.add_argument("--accounts-table")
    target.add_argument("--ledger-table")
    target.add_argument("--spend-table")
    commands = parser.add_subparsers(dest="command", required=True)

    dev = commands.add_parser("dev", help="run the gateway locally (embedded AWS, demo account and key)")
    dev.add_argument("--port", type=int, help="default: $PORT or 3000")
    dev.add_argument("--host", default="127.0.0.1")
    dev.add_argument("--external", action="store_true",
                     help="use the AWS your environment names (AWS_ENDPOINT_URL, credentials) instead of moto")
    dev.add_argument("--fresh", action="store_true",
                     help="start on an empty embedded store (forget what earlier runs kept under .unigate/)")
    dev.set_defaults(func=cmd_dev)

    acc = commands.add_parser("accounts").add_subparsers(dest="action", required=True)
    create = acc.add_parser("create")
    create.add_argument("--name", default="")
    create.add_argument("--id", help="account id (default: generated)")
    create.set_defaults(func=cmd_accounts_create)
    show = acc.add_parser("show")
    show.add_argument("account")
    show.set_defaults(func=cmd_accounts_show)
    for action, text in (("suspend", "stop the account's keys and new requests"), ("resume", "undo suspend")):
        status = acc.add_parser(action, help=text)
        status.add_argument("account")
        status.set_defaults(func=cmd_accounts_status, action=action)

    key = commands.add_parser("keys").add_subparsers(dest="action", required=True)
    kcreate = key.add_parser("create", help="create a key; its secret is printed once")
    kcreate.add_argument("--account", required=True)
    kcreate.add_argument("--name", default="")
    kcreate.add_argument("--expires-in-days", type=float)
    kcreate.add_argument("--allow-model", action="append", default=[], metavar="MODEL",
                         help="restrict the key to this model (repeatable); default: any")
    for command in (kcreate, klimits := key.add_parser("limits", help="set or clear a key's rate limits")):
        command.add_argument("--rpm", type=int, help="requests per minute (default: unlimited)")
        command.add_argument("--tpm", type=int, help="tokens per minute: prompt plus max_tokens (default: unlimited)")
    klimits.add_argument("key_id")
    klimits.set_defaults(func=cmd_keys_limits)
    kbudget = key.add_parser("budget", help="set or remove a key's spend limit")
    kbudget.add_argument("key_id")
    kbudget.add_argument("--none", action="store_true", help="remove the budget")
    for command in (kcreate, kbudget):
        command.add_argument("--budget", help="credits the key may spend per --budget-period (default: no limit)")
        command.add_argument("--budget-period", choices=["lifetime", "day", "week", "month"], default="lifetime",
                             help="UTC calendar periods; a new one starts by itself (default: lifetime)")
    kbudget.set_defaults(func=cmd_keys_budget)
    kcreate.set_defaults(func=cmd_keys_create)
    klist = key.add_parser("list")
    klist.add_argument("--account", required=True)
    klist.set_defaults(func=cmd_keys_list)
    krevoke = key.add_parser("revoke")
    krevoke.add_argument("key_id")
    krevoke.set_defaults(func=cmd_keys_revoke)
    krotate = key.add_parser("rotate", help="a new key with the same settings; the old one revoked (or after a grace)")
    krotate.add_argument("key_id")
    krotate.add_argument("--grace-seconds", type=int, default=0, help="keep the old key working this long")
    krotate.set_defaults(func=cmd_keys_rotate)
    kgen = key.add_parser("generate", help="print a fresh well-formed key without storing it (for UNIGATE_DEV_KEY)")
    kgen.set_defaults(func=cmd_keys_generate)

    cred = commands.add_parser("credits").add_subparsers(dest="action", required=True)
    grant = cred.add_parser("grant", help="add credits once per idempotency key")
    grant.add_argument("--account", required=True)
    grant.add_argument("--amount", required=True, help="credits, e.g. 25 or 12.5 (1 credit = 1 USD)")
    grant.add_argument("--idempotency-key", required=True)
    grant.add_argument("--note", default="")
    grant.set_defaults(func=cmd_credits_grant)
    topup = cred.add_parser("topup", help="a one-off top-up (same path as a payment webhook's event)")
    topup.add_argument("--account", required=True)
    topup.add_argument("--amount", required=True, help="credits")
    topup.add_argument("--idempotency-key", required=True)
    topup.set_defaults(func=cmd_credits_topup)
    ledger = cred.add_parser("ledger", help="list ledger entries, oldest first")
    ledger.add_argument("--account", required=True)
    ledger.add_argument("--limit", type=int, default=100)
    ledger.add_argument("--cursor")
    ledger.set_defaults(func=cmd_credits_ledger)

    plan = commands.add_parser("plans", help="top-up plans applied by the scheduled run").add_subparsers(
        dest="action", required=True)
    pcreate = plan.add_parser("create", help="--amount for a periodic grant, or --auto-recharge")
    pcreate.add_argument("--account", required=True)
    pcreate.add_argument("--period", choices=["day", "week", "month"], default="month")
    pcreate.add_argument("--amount", help="periodic grant, in credits")
    pcreate.add_argument("--auto-recharge", action="store_true", help="top up to --target below --threshold")
    pcreate.add_argument("--threshold")
    pcreate.add_argument("--target")
    pcreate.add_argument("--max-per-period", type=int, default=1)
    pcreate.set_defaults(func=cmd_plans_create)
    plist = plan.add_parser("list")
    plist.add_argument("--account", required=True)
    plist.set_defaults(func=cmd_plans_list)
    pdelete = plan.add_parser("delete")
    pdelete.add_argument("--account", required=True)
    pdelete.add_argument("plan_id")
    pdelete.set_defaults(func=cmd_plans_delete)

    dep = commands.add_parser("deployments", help="names bound to an endpoint with settings (any case)").add_subparsers(
        dest="action", required=True)
    dcreate = dep.add_parser("create")
    dcreate.add_argument("name")
    dcreate.add_argument("--endpoint", required=True, help="model@provider")
    dcreate.add_argument("--model-version", default="", help="the provider's model id to send instead of the catalog's")
    dcreate.add_argument("--capacity-type", choices=["on-demand", "provisioned"], default="on-demand")
    dcreate.add_argument("--capacity-tpm", type=int, help="provisioned capacity in tokens per minute")
    dcreate.add_argument("--rpm", type=int)
    dcreate.add_argument("--tpm", type=int)
    dcreate.add_argument("--content-filter", help='JSON or a JSON file: {"category": {"terms": [...], '
                                                  '"patterns": [...], "input": true, "output": true}}')
    dcreate.add_argument("--replace", action="store_true", help="overwrite a deployment of the same name")
    dcreate.set_defaults(func=cmd_deployments_create)
    dep.add_parser("list").set_defaults(func=cmd_deployments_list)
    ddelete = dep.add_parser("delete")
    ddelete.add_argument("name")
    ddelete.set_defaults(func=cmd_deployments_delete)

    spend = commands.add_parser("spend", help="an account's spend by key, endpoint, model or tag (from the aggregates)")
    spend.add_argument("--account", required=True)
    spend.add_argument("--by", choices=["key", "endpoint", "model", "tag"], default="key")
    spend.add_argument("--start-time", help="ISO time or date (default: 30 days before --end-time)")
    spend.add_argument("--end-time", help="ISO time or date (default: now)")
    spend.add_argument("--granularity", choices=["day", "hour"], default="day")
    spend.set_defaults(func=cmd_spend)

    runs = commands.add_parser("topups", help="apply top-up plans now").add_subparsers(dest="action", required=True)
    run = runs.add_parser("run", help="what the schedule does, for the period of --scheduled-time (default now)")
    run.add_argument("--scheduled-time")
    run.set_defaults(func=cmd_topups_run)

    cat = commands.add_parser("catalog", help="the built-in catalog").add_subparsers(dest="action", required=True)
    update = cat.add_parser("update", help="regenerate it from LiteLLM's price map; prints added, removed, repriced")
    update.add_argument("--litellm-version", help="the litellm release to read (default: the pinned one)")
    update.add_argument("--no-crosscheck", action="store_true", help="skip the genai-prices cross-check")
    update.set_defaults(func=cmd_catalog_update)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _as_json[0] = bool(getattr(args, "json", False))
    if args.command not in ("dev", "catalog"):
        _target(args)
    from unigate.domain.errors import UnigateError

    try:
        args.func(args)
    except UnigateError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
