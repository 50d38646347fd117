"""``Device``: a device found at a site (a camera, a PLC, a sensor), what an
Application's ``spec.devices`` requirements are matched against.

Labels carry what requirements select on (``class: camera``, ``vendor: axis``); the
spec says where the device is and how it is reached; the status says whether it is
there now. Discovery (``DiscoveryProfile``, the agents' scanners) will write devices
later; for now operators do. Counting devices per site belongs to
``edgeplane.placement``; this module only defines what counts (``Device.available_at``).
"""

from __future__ import annotations

import enum
from typing import Literal

from pydantic import Field, field_validator

from edgeplane.api.meta import Message, Model, ObjectName, RequiredAddress, Resource, ShortText

DEVICE_ATTRIBUTES_MAX = 128


class DeviceProtocol(enum.StrEnum):
    """How the device was found or is reached."""

    MQTT = "mqtt"
    MDNS = "mdns"
    OPCUA = "opcua"
    MODBUS = "modbus"
    ONVIF = "onvif"
    MANUAL = "manual"


class DeviceSpec(Model):
    # Defaulted and checked so that leaving it out says what to write, not only
    # "is required".
    site: ObjectName = Field(default="", validate_default=True)
    protocol: DeviceProtocol | None = None
    address: RequiredAddress | None = None
    attributes: dict[ShortText, Message] | None = Field(
        default=None, max_length=DEVICE_ATTRIBUTES_MAX
    )

    @field_validator("site", mode="before")
    @classmethod
    def _site_given(cls, site: object) -> object:
        if site is None or site == "":
            raise ValueError(
                "is required: name the Site the device is at (for example site: store-0042)"
            )
        return site


class DevicePhase(enum.StrEnum):
    AVAILABLE = "Available"
    UNAVAILABLE = "Unavailable"


class DeviceStatus(Model):
    phase: DevicePhase | None = None
    last_seen: ShortText | None = Field(default=None, alias="lastSeen")
    message: Message | None = None


class Device(Resource):
    """A device at ``spec.site``.

    Placement counts a device at site S towards an Application's ``spec.devices``
    requirement when ``spec.site == S``, its labels match the requirement's selector,
    and ``status.phase`` is absent or ``Available``: a device nobody has reported on yet
    is taken at the operator's word, one reported ``Unavailable`` is not counted.
    """

    kind: Literal["Device"] = "Device"
    spec: DeviceSpec
    status: DeviceStatus | None = None

    def available_at(self, site: str) -> bool:
        """Whether placement counts this device at ``site`` (labels aside)."""
        phase = self.status.phase if self.status else None
        return self.spec.site == site and phase in (None, DevicePhase.AVAILABLE)
