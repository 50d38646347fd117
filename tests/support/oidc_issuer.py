"""A local OIDC issuer for tests: discovery and a JWKS on 127.0.0.1 (a thread of this
process), and the tokens it signs with PyJWT. Keys can be rotated to see the hub fetch
the new set."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "edgeplane"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    url: str = ""
    keys: dict[str, rsa.RSAPrivateKey] = field(default_factory=dict)
    fetches: int = 0

    def jwks(self) -> dict[str, Any]:
        listed = []
        for kid, key in self.keys.items():
            public = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            listed.append({**public, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": listed}

    def token(
        self,
        subject: str = "alice@example.com",
        groups: list[str] | None = None,
        *,
        kid: str = "k1",
        key: rsa.RSAPrivateKey | None = None,
        lifetime: float = 300,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        body = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": subject,
            "iat": now,
            "exp": now + int(lifetime),
            "groups": groups or [],
            **claims,
        }
        signer = key or self.keys[kid]
        return jwt.encode(body, signer, algorithm="RS256", headers={"kid": kid})


@contextmanager
def running_issuer() -> Iterator[Issuer]:
    issuer = Issuer(keys={"k1": new_key()})

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
            elif self.path == "/jwks":
                issuer.fetches += 1
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield issuer
    finally:
        server.shutdown()
        server.server_close()
