"""FastAPI and Lambda glue: the app factory, the caller, errors as HTTP."""
