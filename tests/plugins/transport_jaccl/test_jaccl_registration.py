"""The plugin registers the jaccl transport and the reboot remedy through its entry point."""

from odyssai.plugins import get_plugin_manager
from odyssai.transport import Failure


def test_the_jaccl_transport_is_installed_under_the_name_jaccl():
    pm = get_plugin_manager()
    assert pm.transport("jaccl").mlx_backend == "jaccl"
    assert pm.transports.owner("jaccl") == "odyssai-transport-jaccl"


def test_the_reboot_remedy_is_installed_and_applies_to_a_failure_that_asks_for_a_reboot():
    remedy = get_plugin_manager().remedies.get("reboot")
    assert remedy.applies(Failure(kind="queue_pairs_exhausted", message="", remedy="", action="reboot"))


def test_the_reboot_remedy_does_not_apply_to_a_failure_without_that_action():
    remedy = get_plugin_manager().remedies.get("reboot")
    assert not remedy.applies(Failure(kind="peer_lost", message="", remedy=""))
