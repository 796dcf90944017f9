"""Local development: the template reader, the embedded AWS emulator, and the local API server.

Nothing here runs in Lambda; it needs the `local` extra (moto, uvicorn, PyYAML).
"""
