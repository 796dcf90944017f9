"""GET /v0/queries: the caller's own query log, filtered and paginated."""

from typing import Annotated, Any

from fastapi import Query

from unigate.accounts import querylog
from unigate.web.app import create_app, lambda_handler_for
from unigate.web.caller import CallerDep

app = create_app("queries")

_Csv = Annotated[str | None, Query(description="comma-separated")]


@app.get("/v0/queries")
async def queries(
    caller: CallerDep,
    *,
    tags: _Csv = None,
    endpoints: _Csv = None,
    start_time: str | None = None,
    end_time: str | None = None,
    failures: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: str | None = None,
) -> dict[str, Any]:
    return querylog.list_queries(
        caller.account_id,
        tags=tags.split(",") if tags else None,
        endpoints=endpoints.split(",") if endpoints else None,
        start_time=start_time, end_time=end_time, failures=failures, limit=limit, cursor=cursor,
    )


lambda_handler = lambda_handler_for(app)
