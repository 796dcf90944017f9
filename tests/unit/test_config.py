import pytest

from unigate.infra.config import Settings


def test_settings_are_typed_and_refuse_bad_values() -> None:
    settings = Settings.from_environment({"UNIGATE_MAX_BODY_BYTES": "2048", "UNIGATE_CATALOG_PATH": "/x.json",
                                          "UNIGATE_COOLDOWN_SECONDS": "1.5", "OTHER": "ignored"})
    assert settings.max_body_bytes == 2048
    assert settings.catalog_path == "/x.json"
    assert settings.cooldown_seconds == 1.5
    assert Settings.from_environment({}).catalog_path is None
    with pytest.raises(ValueError, match="UNIGATE_MAX_BODY_BYTES"):
        Settings.from_environment({"UNIGATE_MAX_BODY_BYTES": "lots"})
