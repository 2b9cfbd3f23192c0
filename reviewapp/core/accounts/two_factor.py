"""A second factor for password sign-in: a time-based code (TOTP, RFC 6238) from an
authenticator app, on django-otp's TOTP devices.

Enrolment makes an unconfirmed device whose secret is shown (QR code and text); the first right
code confirms it. From then on a password alone signs nobody in: the sign-in asks for a code.
Sign-in through the identity provider is left to the provider's own second factor.
"""

from django.conf import settings
from django.db import transaction
from django_otp.plugins.otp_totp.models import TOTPDevice

from reviewapp.core.accounts.models import Membership
from reviewapp.core.audit.services import audit_record
from reviewapp.core.errors import InvalidRequest

DEVICE_NAME = "Authenticator app"
# After a wrong code the next try waits (1 s, doubling with each wrong code: django-otp's throttle).
WRONG_CODE = (
    "That code is not right (or was used already). Wait a moment, then enter the code your app "
    "shows now."
)


class CodeRefused(InvalidRequest):
    detail = "The code is not right."


def two_factor_device(user) -> TOTPDevice | None:
    """The person's confirmed authenticator, if they enrolled one."""
    return TOTPDevice.objects.devices_for_user(user, confirmed=True).first()


def two_factor_required(user) -> bool:
    """Whether the person's roles oblige them to use a second factor (superusers count as
    admins)."""
    roles = settings.REVIEWAPP_TWO_FACTOR_ROLES
    if not roles or not user.is_authenticated:
        return False
    if user.is_superuser and "admin" in roles:
        return True
    return Membership.objects.filter(user_id=user.pk, role__in=roles).exists()


@transaction.atomic(durable=True)
def two_factor_enrolment_start(*, user) -> TOTPDevice:
    """The unconfirmed device whose secret the person copies into their app (the same one until
    they confirm it, so reloading the page does not change the QR code)."""
    pending = TOTPDevice.objects.devices_for_user(user, confirmed=False).select_for_update().first()
    return pending or TOTPDevice.objects.create(user=user, name=DEVICE_NAME, confirmed=False)


def two_factor_enrolment_confirm(*, user, code: str) -> TOTPDevice:
    """The first right code from the app confirms the device (audited ``two_factor.enrolled``);
    a wrong one raises ``CodeRefused``."""
    with transaction.atomic(durable=True):
        device = (
            TOTPDevice.objects.devices_for_user(user, confirmed=False).select_for_update().first()
        )
        # A wrong code is counted against the device (django-otp's throttle): committed, so the
        # refusal is raised only after the transaction.
        verified = device is not None and device.verify_token(_digits(code))
        if verified:
            TOTPDevice.objects.devices_for_user(user, confirmed=True).delete()
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            audit_record(
                action="two_factor.enrolled",
                obj=user,
                actor=user,
                data={"user": user.get_username(), "device": device.name},
            )
    if not verified:
        raise CodeRefused({"code": [WRONG_CODE]})
    return device


def two_factor_disable(*, user, code: str) -> None:
    """Turn the second factor off with a current code (audited ``two_factor.disabled``): a
    session left open on someone's desk cannot switch it off."""
    with transaction.atomic(durable=True):
        device = (
            TOTPDevice.objects.devices_for_user(user, confirmed=True).select_for_update().first()
        )
        verified = device is not None and device.verify_token(_digits(code))
        if verified:
            TOTPDevice.objects.filter(user=user).delete()
            audit_record(
                action="two_factor.disabled",
                obj=user,
                actor=user,
                data={"user": user.get_username()},
            )
    if not verified:
        raise CodeRefused({"code": [WRONG_CODE]})


def two_factor_verify(*, user, code: str) -> TOTPDevice | None:
    """The device that accepts ``code`` at sign-in, or None. Each code works once (django-otp
    remembers the last time step used) and wrong codes slow further tries down."""
    with transaction.atomic(durable=True):
        device = (
            TOTPDevice.objects.devices_for_user(user, confirmed=True).select_for_update().first()
        )
        if device is not None and device.verify_token(_digits(code)):
            return device
    return None


def _digits(code: str) -> str:
    # Apps show "123 456"; people paste it as shown.
    return "".join((code or "").split())[:12]
