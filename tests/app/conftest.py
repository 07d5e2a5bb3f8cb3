"""Fixtures of the use-case tests: an in-memory provider and the services built on it."""

from __future__ import annotations

import pytest

from tests.fakes import FakeProvider, fake_services


@pytest.fixture
def provider() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def make_services(tmp_path, provider):
    """``make_services(fake=None, **settings)``: services on ``provider`` (or ``fake``) and a
    temporary database; their stores are closed after the test."""
    opened = []

    def _make(fake: FakeProvider | None = None, **settings):
        services = fake_services(tmp_path, fake or provider, **settings)
        opened.append(services)
        return services

    yield _make
    for services in opened:
        if services._store is not None:  # the fake provider holds nothing to close
            services._store.close()


@pytest.fixture
def services(make_services):
    return make_services()
