"""Hook implementations of odyssai-transport-jaccl: the jaccl transport, the reboot remedy, its doctor check."""

from odyssai import hookimpl

from .reboot import RebootRemedy
from .transport import JacclTransport


@hookimpl
def odyssai_register_transports(register):
    register(JacclTransport())


@hookimpl
def odyssai_register_remedies(register):
    register(RebootRemedy())


@hookimpl
def odyssai_register_doctor_checks(register):
    from .doctor import JacclNodeCheck

    register(JacclNodeCheck())
