"""Errors of the provisioning package; ProvisioningError is the one base."""

from __future__ import annotations


class ProvisioningError(Exception):
    """Provisioning could not be carried out; the message says what to fix."""


class BrokerConfigError(ProvisioningError):
    """A broker configuration could not be written (bad id, missing tool, hashing failed)."""


class CertificateError(ProvisioningError):
    """A certificate or key could not be made or loaded."""


class RegistrationError(ProvisioningError):
    """HQ refused or could not be asked to register a terminal."""


class FleetError(ProvisioningError):
    """The fleet directory is missing, damaged or refuses the change asked for."""
