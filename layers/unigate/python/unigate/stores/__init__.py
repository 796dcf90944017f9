"""Persistence: DynamoDB tables (keys, accounts with their holds, the ledger) and Secrets Manager."""
