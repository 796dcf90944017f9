"""GET /v0/credits (and the legacy /v0/get_credits): the caller's balance; GET /v0/spend: the account's
spend by key, endpoint, model or tag; GET /v0/key: the calling key's own budget and spend."""

from typing import Annotated, Any

from fastapi import Query

from unigate.accounts import billing, spend
from unigate.web.app import create_app, lambda_handler_for
from unigate.web.caller import CallerDep
from unigate.web.schemas import Credits

app = create_app("credits")


@app.get("/v0/credits", response_model=Credits)
@app.get("/v0/get_credits", response_model=Credits, deprecated=True)
async def get_credits(caller: CallerDep) -> dict[str, object]:
    return billing.credits_of(caller.account_id)


@app.get("/v0/spend")
async def get_spend(
    caller: CallerDep,
    group_by: Annotated[str, Query(description="key, endpoint, model or tag")] = "key",
    start_time: Annotated[str | None, Query(description="ISO 8601; default: 30 days before end_time")] = None,
    end_time: Annotated[str | None, Query(description="ISO 8601; default: now")] = None,
    granularity: Annotated[str, Query(description="day or hour")] = "day",
) -> dict[str, Any]:
    return spend.report(caller.account_id, group_by=group_by, start_time=start_time, end_time=end_time,
                        granularity=granularity)


@app.get("/v0/key")
async def get_key(caller: CallerDep) -> dict[str, Any]:
    return spend.key_info(caller)


lambda_handler = lambda_handler_for(app)
