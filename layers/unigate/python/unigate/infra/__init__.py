"""AWS clients, the upstream HTTP client, SSRF checks, configuration and observability."""
