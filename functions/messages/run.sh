#!/bin/sh
# Started by the Lambda Web Adapter (AWS_LAMBDA_EXEC_WRAPPER=/opt/bootstrap) on the deployed API: the
# same FastAPI app as app.lambda_handler, under uvicorn, so API Gateway's response streaming carries
# each chunk as it is produced. The adapter waits for AWS_LWA_READINESS_CHECK_PATH before the first
# request. Layers are on /opt/python; the function's own code is the working directory.
export PYTHONPATH="/opt/python:${LAMBDA_TASK_ROOT:-.}:${PYTHONPATH:-}"
exec python -m uvicorn --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" --no-access-log \
  --timeout-graceful-shutdown 2 --app-dir "${LAMBDA_TASK_ROOT:-$(dirname "$0")}" app:app
