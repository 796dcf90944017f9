"""Accounts, API keys and the authorizer, billing, top-ups, the sweeper, admin and the query log."""
