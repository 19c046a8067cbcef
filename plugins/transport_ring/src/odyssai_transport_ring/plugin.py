"""Hook implementations of odyssai-transport-ring."""

from odyssai import hookimpl

from .ring import RingTransport


@hookimpl
def odyssai_register_transports(register):
    register(RingTransport())
