"""One registry of wearable providers: every other list of them is derived from it."""

from __future__ import annotations

from cryptography.fernet import Fernet

from integrations.wearables import PROVIDERS
from service.config import PROVIDERS as CONFIGURED
from service.config import load_settings
from service.connections.providers import provider_budget
from service.patients.models import SOURCES
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
