"""Hook implementations of odyssai-transport-jaccl: the jaccl transport and the reboot remedy."""

from odyssai import hookimpl

from .reboot import RebootRemedy
from .transport import JacclTransport


@hookimpl
def odyssai_register_transports(register):
    register(JacclTransport())


@hookimpl
def odyssai_register_remedies(register):
    register(RebootRemedy())
