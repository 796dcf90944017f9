"""POST /v0/inference: {"model", "provider", "arguments"} -> {"response": <the model's output>}."""

from fastapi import Request
from fastapi.responses import JSONResponse

from unigate.gateway import inference
from unigate.web.app import create_app, lambda_handler_for, read_json
from unigate.web.caller import CallerDep, remaining_ms

app = create_app("inference")


@app.post("/v0/inference")
async def infer(request: Request, caller: CallerDep) -> JSONResponse:
    planned = inference.prepare(await read_json(request), caller,
                                extra_parameters=request.headers.get("extra-parameters"))
    result = await inference.run(planned, caller, remaining_ms=remaining_ms(request))
    return JSONResponse(result.body, headers=result.headers)


lambda_handler = lambda_handler_for(app)
