"""The caller's own provider keys (POST/GET/DELETE /v0/custom_api_key, POST .../rename, GET .../list) and
custom endpoints (POST/DELETE /v0/custom_endpoint, POST .../rename, GET .../list)."""

from unigate.catalog import customendpoints, customkeys
from unigate.web.app import create_app, lambda_handler_for
from unigate.web.caller import CallerDep

app = create_app("custom API keys")


@app.post("/v0/custom_api_key")
async def create(caller: CallerDep, name: str, value: str) -> dict[str, str]:
    return customkeys.create(caller.account_id, name, value)


@app.get("/v0/custom_api_key")
async def show(caller: CallerDep, name: str) -> dict[str, str]:
    return customkeys.show(caller.account_id, name)


@app.delete("/v0/custom_api_key")
async def delete(caller: CallerDep, name: str) -> dict[str, str]:
    return customkeys.delete(caller.account_id, name)


@app.post("/v0/custom_api_key/rename")
async def rename(caller: CallerDep, name: str, new_name: str) -> dict[str, str]:
    return customkeys.rename(caller.account_id, name, new_name)


@app.get("/v0/custom_api_key/list")
async def listing(caller: CallerDep) -> list[dict[str, str]]:
    return customkeys.listing(caller.account_id)


@app.post("/v0/custom_endpoint")
async def create_endpoint(caller: CallerDep, name: str, url: str, key_name: str, model_arg: str | None = None
                    ) -> dict[str, str]:
    return await customendpoints.create(caller.account_id, name, url, key_name, model_arg)


@app.delete("/v0/custom_endpoint")
async def delete_endpoint(caller: CallerDep, name: str) -> dict[str, str]:
    return customendpoints.delete(caller.account_id, name)


@app.post("/v0/custom_endpoint/rename")
async def rename_endpoint(caller: CallerDep, name: str, new_name: str) -> dict[str, str]:
    return customendpoints.rename(caller.account_id, name, new_name)


@app.get("/v0/custom_endpoint/list")
async def list_endpoints(caller: CallerDep) -> list[dict[str, str]]:
    return customendpoints.listing(caller.account_id)


lambda_handler = lambda_handler_for(app)
