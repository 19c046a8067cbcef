"""Hook implementations of odyssai-discovery-tb5: the tb5 discoverer and ``odyssai node-setup``."""

from odyssai import hookimpl

from .probe import TB5Discoverer


@hookimpl
def odyssai_register_discoverers(register):
    register(TB5Discoverer())


@hookimpl
def odyssai_cli(app):
    from .cli import app as node_setup

    app.add_typer(node_setup, name="node-setup")


@hookimpl
def odyssai_register_doctor_checks(register):
    from .doctor import LinkLocalCheck

    register(LinkLocalCheck())
