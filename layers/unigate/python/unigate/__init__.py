"""unigate: a self-hosted, serverless universal LLM endpoint.

Nothing is imported here on purpose: every Lambda imports only the modules its route needs, so the
package root must stay free of import-time work.
"""

__version__ = "0.1.0"
