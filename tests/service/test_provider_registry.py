"""One registry per plug-in kind (wearable providers, push channels): every other list of them
is derived from it."""

from __future__ import annotations

from cryptography.fernet import Fernet

from integrations.wearables import PROVIDERS
from service.channels import CHANNELS, PLATFORMS
from service.config import PROVIDERS as CONFIGURED
from service.config import load_settings
from service.connections.providers import provider_budget
from service.delivery.worker import BACKOFF_BASE_S
from service.fhir.terminology import SOURCES as EXPORT_TITLES
from service.patients.models import SOURCES, UPLOAD_SOURCES, Device
from service.patients.schemas import DeviceCreateSchema
from tests.support.factories import Seed


def test_it_derives_settings_sources_and_budgets_from_the_provider_classes(seed: Seed) -> None:
    names = tuple(PROVIDERS)
    assert names == CONFIGURED
    assert SOURCES[-len(names) :] == names  # a provider's records carry its name
    env = {"SECRET_KEY": "k" * 32, "TOKEN_ENCRYPTION_KEY": Fernet.generate_key().decode()}
    env |= {f"{name.upper()}_CLIENT_ID": "id" for name in names}
    env |= {f"{name.upper()}_CLIENT_SECRET": "secret" for name in names}
    settings = load_settings(env)
    assert all(settings.provider(name).configured for name in names)
    budget = provider_budget(settings)
    assert budget is not None
    for name, adapter in PROVIDERS.items():
        assert adapter.name == name
        assert adapter.title  # patients read it ("Please reconnect ...")
        assert "_" not in adapter.title
        app_limits = [str(item) for item in budget.limits_for(f"{name}:app")]
        assert len(app_limits) == len([p for p in adapter.quota.app.split(";") if p])


def test_it_names_every_source_in_exports_from_the_same_registry() -> None:
    assert tuple(EXPORT_TITLES) == SOURCES == (*UPLOAD_SOURCES, *PROVIDERS)
    assert EXPORT_TITLES["oura"] == PROVIDERS["oura"].title
    # The sandbox's records say they are made up wherever they are exported.
    assert "synthetic" in EXPORT_TITLES["sandbox"]
    assert PROVIDERS["sandbox"].title == "Sandbox"  # what a patient reads stays short


def test_it_derives_device_platforms_from_the_push_channels() -> None:
    assert PLATFORMS == ("ios", "android", "web")
    assert {channel.platform for channel in CHANNELS.values()} == set(PLATFORMS)
    check = next(c for c in Device.__table__.constraints if c.name == "ck_devices_platform")
    assert str(check.sqltext) == "platform IN ('ios', 'android', 'web')"
    assert DeviceCreateSchema().fields["platform"].validate.choices == PLATFORMS  # type: ignore[union-attr]
    assert CHANNELS["apns"].server_error_min_s == 15 * 60
    assert CHANNELS["fcm"].server_error_min_s is None  # FCM's 5xx back off like any error
    assert BACKOFF_BASE_S < 15 * 60
