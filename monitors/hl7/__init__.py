"""HL7 v2 monitor feeds (IHE PCD-01, ORU^R01 with IEEE 11073 codes) as a monitor adapter.

- ``mllp``: the MLLP framing, sans I/O (bytes in, frames out; never raises).
- ``mdc``: the IEEE 11073-10101 codes and units this adapter understands.
- ``pcd01``: one message's text in, wire messages and the acknowledgement out (never raises).
- ``devices``: the equipment-id map (which monitor id, room and token each device speaks with).
- ``listener``: the asyncio MLLP listener, one uplink stream per equipment id.

See docs/hl7.md.
"""
