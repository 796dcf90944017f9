"""GET /v0/credits (and the legacy /v0/get_credits): the caller's balance."""

from unigate import billing
from unigate.schemas import Credits, ErrorBody
from unigate.web import CallerDep, create_app, lambda_handler_for

app = create_app("credits")
_errors = {401: {"model": ErrorBody}, 403: {"model": ErrorBody}}


@app.get("/v0/credits", response_model=Credits, responses=_errors)
@app.get("/v0/get_credits", response_model=Credits, responses=_errors, deprecated=True)
def get_credits(caller: CallerDep) -> dict[str, object]:
    return billing.credits_of(caller.account_id)


lambda_handler = lambda_handler_for(app)
