import pytest


@pytest.fixture(params=[True, False], ids=["prepared", "unprepared"])
def prepared_statements(request, settings):
    """Runs a test with the hot path's prepared statements on (the default) and off (as behind
    PgBouncer in transaction mode)."""
    settings.REVIEWAPP_PREPARED_STATEMENTS = request.param
    return request.param
