"""A software WebAuthn authenticator for API tests: what a phone or a security key does
in both ceremonies, built from `cryptography` (ES256 keys) and `cbor2`, answering in
the JSON form browsers give (`PublicKeyCredential.toJSON()`). Every field a test may
want to forge (origin, RP ID, flags, counter, challenge) can be set per call."""

import hashlib
import json
import secrets
import struct
from dataclasses import dataclass
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

FLAG_UP, FLAG_UV, FLAG_AT = 0x01, 0x04, 0x40


@dataclass
class Credential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    rp_id: str
    user_handle: bytes
    sign_count: int = 0

    @property
    def credential_id_b64(self) -> str:
        return bytes_to_base64url(self.credential_id)

    def cose_public_key(self) -> bytes:
        numbers = self.private_key.public_key().public_numbers()
        x, y = numbers.x.to_bytes(32, "big"), numbers.y.to_bytes(32, "big")
        return cbor2.dumps({1: 2, 3: -7, -1: 1, -2: x, -3: y})  # EC2, ES256, P-256


def _client_data(kind: str, challenge: str, origin: str) -> bytes:
    return json.dumps(
        {"type": kind, "challenge": challenge, "origin": origin, "crossOrigin": False}
    ).encode()


def _flags(*, user_present: bool, user_verified: bool, attested: bool = False) -> int:
    return (
        (FLAG_UP if user_present else 0)
        | (FLAG_UV if user_verified else 0)
        | (FLAG_AT if attested else 0)
    )


class SoftAuthenticator:
    """Keeps its credentials (discoverable, as passkeys are) and signs with them."""

    def __init__(self, *, origin: str, counter_step: int = 1) -> None:
        self.origin = origin
        self.counter_step = counter_step
        self.credentials: list[Credential] = []

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        reuse: Credential | None = None,
    ) -> dict[str, Any]:
        """Answer creation options with a new credential (or `reuse` an old one). Like a
        real authenticator, it refuses when it already holds an excluded credential."""
        rp_id = rp_id or options["rp"]["id"]
        excluded = {item["id"] for item in options.get("excludeCredentials", [])}
        if any(c.credential_id_b64 in excluded for c in self.credentials if c.rp_id == rp_id):
            raise ValueError("excluded: this authenticator already has a credential here")
        credential = reuse or Credential(
            credential_id=secrets.token_bytes(32),
            private_key=ec.generate_private_key(ec.SECP256R1()),
            rp_id=rp_id,
            user_handle=base64url_to_bytes(options["user"]["id"]),
        )
        if reuse is None:
            self.credentials.append(credential)
        attested = (
            bytes(16)  # AAGUID: none
            + struct.pack(">H", len(credential.credential_id))
            + credential.credential_id
            + credential.cose_public_key()
        )
        flags = _flags(user_present=True, user_verified=user_verified, attested=True)
        authenticator_data = (
            hashlib.sha256(rp_id.encode()).digest() + bytes([flags]) + struct.pack(">I", 0)
        ) + attested
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": authenticator_data})
        client_data = _client_data("webauthn.create", options["challenge"], origin or self.origin)
        return {
            "id": credential.credential_id_b64,
            "rawId": credential.credential_id_b64,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "attestationObject": bytes_to_base64url(attestation),
                "transports": ["internal"],
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        credential: Credential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        user_verified: bool = True,
        sign_count: int | None = None,
    ) -> dict[str, Any]:
        """Sign an assertion for request options with `credential` (default: the newest
        one for the options' RP ID). `sign_count` forces the counter, as a clone would."""
        wanted = options.get("rpId")
        credential = credential or next(c for c in reversed(self.credentials) if c.rp_id == wanted)
        if sign_count is None:
            credential.sign_count += self.counter_step
            sign_count = credential.sign_count
        flags = _flags(user_present=True, user_verified=user_verified)
        authenticator_data = (
            hashlib.sha256((rp_id or credential.rp_id).encode()).digest()
            + bytes([flags])
            + struct.pack(">I", sign_count)
        )
        client_data = _client_data("webauthn.get", options["challenge"], origin or self.origin)
        signature = credential.private_key.sign(
            authenticator_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": credential.credential_id_b64,
            "rawId": credential.credential_id_b64,
            "type": "public-key",
            "response": {
                "clientDataJSON": bytes_to_base64url(client_data),
                "authenticatorData": bytes_to_base64url(authenticator_data),
                "signature": bytes_to_base64url(signature),
                "userHandle": bytes_to_base64url(credential.user_handle),
            },
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
        }
