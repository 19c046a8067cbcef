"""The plugin registers the tb5 discoverer through its entry point."""

from odyssai.plugins import get_plugin_manager


def test_the_tb5_discoverer_is_installed_by_odyssai_discovery_tb5():
    pm = get_plugin_manager()
    assert pm.discoverers.get("tb5") is not None and pm.discoverers.owner("tb5") == "odyssai-discovery-tb5"
