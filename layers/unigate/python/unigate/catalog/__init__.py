"""Providers, endpoints and their prices; deployments, custom endpoints and keys; measured performance."""
