"""GET /v0/credits (and the legacy /v0/get_credits): the caller's balance."""

from unigate.accounts import billing
from unigate.web.app import create_app, lambda_handler_for
from unigate.web.caller import CallerDep
from unigate.web.schemas import Credits

app = create_app("credits")


@app.get("/v0/credits", response_model=Credits)
@app.get("/v0/get_credits", response_model=Credits, deprecated=True)
async def get_credits(caller: CallerDep) -> dict[str, object]:
    return billing.credits_of(caller.account_id)


lambda_handler = lambda_handler_for(app)
