"""The admin API under /admin/: accounts, keys, credits, top-up plans and deployments. API Gateway
authorizes it with AWS IAM (SigV4), never with unigate keys; the app checks that too."""

from typing import Annotated, Any

from fastapi import Body

from unigate.accounts import admin
from unigate.web.app import AdminDep, create_app, lambda_handler_for

app = create_app("admin")
Admin = AdminDep
Fields = Annotated[dict[str, Any], Body(default_factory=dict)]


def _opt(fields: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: fields[name] for name in names if name in fields}


@app.post("/admin/accounts")
async def create_account(_: Admin, fields: Fields) -> dict[str, Any]:
    return admin.create_account(name=str(fields.get("name", "")), account_id=fields.get("account_id"))


@app.get("/admin/accounts/{account_id}")
async def show_account(_: Admin, account_id: str) -> dict[str, Any]:
    return admin.show_account(account_id)


@app.post("/admin/accounts/{account_id}/suspend")
async def suspend(_: Admin, account_id: str) -> dict[str, Any]:
    return admin.set_account_status(account_id, "suspend")


@app.post("/admin/accounts/{account_id}/resume")
async def resume(_: Admin, account_id: str) -> dict[str, Any]:
    return admin.set_account_status(account_id, "resume")


@app.post("/admin/accounts/{account_id}/keys")
async def create_key(_: Admin, account_id: str, fields: Fields) -> dict[str, Any]:
    return admin.create_key(account_id, **_opt(fields, "name", "expires_in_days", "allowed_models", "rpm", "tpm"))


@app.get("/admin/accounts/{account_id}/keys")
async def list_keys(_: Admin, account_id: str) -> list[dict[str, Any]]:
    return admin.list_keys(account_id)


@app.post("/admin/keys/{key_id}/revoke")
async def revoke_key(_: Admin, key_id: str) -> dict[str, Any]:
    return admin.revoke_key(key_id)


@app.post("/admin/keys/{key_id}/rotate")
async def rotate_key(_: Admin, key_id: str, fields: Fields) -> dict[str, Any]:
    return admin.rotate_key(key_id, **_opt(fields, "grace_seconds"))


@app.put("/admin/keys/{key_id}/limits")
async def key_limits(_: Admin, key_id: str, fields: Fields) -> dict[str, Any]:
    return admin.set_key_limits(key_id, rpm=fields.get("rpm"), tpm=fields.get("tpm"))


@app.post("/admin/accounts/{account_id}/credits")
async def grant(_: Admin, account_id: str, fields: Fields) -> dict[str, Any]:
    return admin.grant(account_id, fields.get("amount"), fields.get("idempotency_key", ""), str(fields.get("note", "")))


@app.get("/admin/accounts/{account_id}/ledger")
async def ledger(_: Admin, account_id: str, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
    return admin.ledger(account_id, limit=limit, cursor=cursor)


@app.post("/admin/accounts/{account_id}/plans")
async def create_plan(_: Admin, account_id: str, fields: Fields) -> dict[str, Any]:
    return admin.create_plan(account_id, kind=fields.get("kind", "periodic"), period=fields.get("period", "month"),
                             **_opt(fields, "amount", "threshold", "target", "max_per_period"))


@app.get("/admin/accounts/{account_id}/plans")
async def list_plans(_: Admin, account_id: str) -> list[dict[str, Any]]:
    return admin.list_plans(account_id)


@app.delete("/admin/accounts/{account_id}/plans/{plan_id}")
async def delete_plan(_: Admin, account_id: str, plan_id: str) -> dict[str, Any]:
    return admin.delete_plan(account_id, plan_id)


@app.post("/admin/deployments")
async def create_deployment(_: Admin, fields: Fields) -> dict[str, Any]:
    return admin.create_deployment(
        str(fields.get("name", "")), str(fields.get("endpoint", "")),
        **_opt(fields, "model_version", "capacity_type", "capacity_tpm", "rpm", "tpm", "content_filter", "replace"))


@app.get("/admin/deployments")
async def list_deployments(_: Admin) -> list[dict[str, Any]]:
    return admin.list_deployments()


@app.delete("/admin/deployments/{name}")
async def delete_deployment(_: Admin, name: str) -> dict[str, Any]:
    return admin.delete_deployment(name)


lambda_handler = lambda_handler_for(app)
