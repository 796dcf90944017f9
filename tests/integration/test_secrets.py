"""Provider keys from Secrets Manager through Powertools, cached; outages served from a warm cache."""

import pytest

from unigate.domain.errors import ServiceUnavailable
from unigate.infra.config import get_settings
from unigate.stores import secrets


def test_values_are_cached(aws: None) -> None:
    from unigate.infra import aws as clients

    clients.client("secretsmanager").create_secret(Name="unigate/providers/openai", SecretString="sk-first")
    assert secrets.provider_credentials("openai") == {"api_key": "sk-first"}
    clients.client("secretsmanager").put_secret_value(SecretId="unigate/providers/openai", SecretString="sk-second")
    assert secrets.provider_credentials("openai") == {"api_key": "sk-first"}  # within the 300 s cache


def test_json_secrets_carry_extra_fields(aws: None) -> None:
    from unigate.infra import aws as clients

    clients.client("secretsmanager").create_secret(
        Name="unigate/providers/azure-openai",
        SecretString='{"api_key": "az-key", "base_url": "https://team.openai.azure.com"}',
    )
    assert secrets.provider_credentials("azure-openai") == {
        "api_key": "az-key", "base_url": "https://team.openai.azure.com"}


def test_an_outage_is_served_from_a_warm_cache_and_is_a_clear_503_when_cold(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from unigate.infra import aws as clients

    clients.client("secretsmanager").create_secret(Name="unigate/providers/groq", SecretString="gsk-warm")
    assert secrets.provider_credentials("groq") == {"api_key": "gsk-warm"}
    # Secrets Manager now fails every call, and the Powertools cache no longer answers.
    monkeypatch.setenv("UNIGATE_SECRET_CACHE_SECONDS", "0")
    get_settings.cache_clear()
    clients.reset()
    clients.client("secretsmanager").delete_secret(SecretId="unigate/providers/groq", ForceDeleteWithoutRecovery=True)
    assert secrets.provider_credentials("groq") == {"api_key": "gsk-warm"}
    with pytest.raises(ServiceUnavailable) as raised:
        secrets.provider_credentials("mistral-ai")
    assert raised.value.status == 503
    assert "mistral-ai" in raised.value.message
