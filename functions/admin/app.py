"""The admin API under /admin/: accounts, keys, credits, top-up plans and deployments. API Gateway
authorizes it with AWS IAM (SigV4), never with unigate keys; the app checks that too."""

from typing import Annotated, Any

from fastapi import Body

from unigate.accounts import admin
from unigate.accounts.admin import fields
from unigate.web.app import create_app, lambda_handler_for
from unigate.web.caller import AdminDep

app = create_app("admin")
Admin = AdminDep


@app.post("/admin/accounts")
async def create_account(_: Admin, body: Annotated[admin.NewAccount, Body(default_factory=admin.NewAccount)]
                         ) -> dict[str, Any]:
    return admin.create_account(**fields(body))


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
async def create_key(_: Admin, account_id: str, body: Annotated[admin.NewKey, Body(default_factory=admin.NewKey)]
                     ) -> dict[str, Any]:
    return admin.create_key(account_id, **fields(body))


@app.get("/admin/accounts/{account_id}/keys")
async def list_keys(_: Admin, account_id: str) -> list[dict[str, Any]]:
    return admin.list_keys(account_id)


@app.post("/admin/keys/{key_id}/revoke")
async def revoke_key(_: Admin, key_id: str) -> dict[str, Any]:
    return admin.revoke_key(key_id)


@app.post("/admin/keys/{key_id}/rotate")
async def rotate_key(_: Admin, key_id: str, body: Annotated[admin.Rotation, Body(default_factory=admin.Rotation)]
                     ) -> dict[str, Any]:
    return admin.rotate_key(key_id, **fields(body))


@app.put("/admin/keys/{key_id}/limits")
async def key_limits(_: Admin, key_id: str, body: Annotated[admin.KeyLimits, Body(default_factory=admin.KeyLimits)]
                     ) -> dict[str, Any]:
    return admin.set_key_limits(key_id, rpm=body.rpm, tpm=body.tpm)


@app.put("/admin/keys/{key_id}/budget")
async def key_budget(_: Admin, key_id: str, body: admin.KeyBudget) -> dict[str, Any]:
    return admin.set_key_budget(key_id, **fields(body))


@app.get("/admin/accounts/{account_id}/spend")
async def spend(_: Admin, account_id: str, group_by: str = "key", start_time: str | None = None,
                end_time: str | None = None, granularity: str = "day") -> dict[str, Any]:
    return admin.spend_report(account_id, group_by=group_by, start_time=start_time, end_time=end_time,
                              granularity=granularity)


@app.post("/admin/accounts/{account_id}/credits")
async def grant(_: Admin, account_id: str, body: admin.Grant) -> dict[str, Any]:
    return admin.grant(account_id, body.amount, body.idempotency_key, body.note)


@app.get("/admin/accounts/{account_id}/ledger")
async def ledger(_: Admin, account_id: str, limit: int = 100, cursor: str | None = None) -> dict[str, Any]:
    return admin.ledger(account_id, limit=limit, cursor=cursor)


@app.post("/admin/accounts/{account_id}/plans")
async def create_plan(_: Admin, account_id: str, body: Annotated[admin.NewPlan, Body(default_factory=admin.NewPlan)]
                      ) -> dict[str, Any]:
    return admin.create_plan(account_id, **{"kind": body.kind, "period": body.period, **fields(body)})


@app.get("/admin/accounts/{account_id}/plans")
async def list_plans(_: Admin, account_id: str) -> list[dict[str, Any]]:
    return admin.list_plans(account_id)


@app.delete("/admin/accounts/{account_id}/plans/{plan_id}")
async def delete_plan(_: Admin, account_id: str, plan_id: str) -> dict[str, Any]:
    return admin.delete_plan(account_id, plan_id)


@app.post("/admin/deployments")
async def create_deployment(_: Admin, body: admin.NewDeployment) -> dict[str, Any]:
    return admin.create_deployment(**fields(body))


@app.get("/admin/deployments")
async def list_deployments(_: Admin) -> list[dict[str, Any]]:
    return admin.list_deployments()


@app.delete("/admin/deployments/{name}")
async def delete_deployment(_: Admin, name: str) -> dict[str, Any]:
    return admin.delete_deployment(name)


lambda_handler = lambda_handler_for(app)
