"""A real OpenID Connect provider for tests: django-oauth-toolkit in its own process (its own
settings and SQLite file), on a free loopback port, with an RS256 key made for the run.

    with OidcProvider(redirect_uri=..., people=[...]) as provider:
        settings.SSO_ISSUER = provider.issuer
        provider.set_groups("sam", [])
"""

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.support.redis_server import free_port

PROJECT_DIR = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


class OidcProvider:
    def __init__(self, *, redirect_uri: str, people: list[dict]):
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/o"
        self.client_id = "reviewapp-" + secrets.token_hex(4)
        self.client_secret = secrets.token_urlsafe(32)
        self._control_token = secrets.token_urlsafe(16)
        self._seed = {
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "redirect_uri": redirect_uri,
            "people": people,
        }
        self._folder = tempfile.TemporaryDirectory(prefix="oidc-provider-")
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> "OidcProvider":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        env = {
            **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
            "OIDC_PROVIDER_DB": str(Path(self._folder.name) / "provider.sqlite3"),
            "OIDC_PROVIDER_KEY": pem,
            "OIDC_PROVIDER_ISSUER": self.issuer,
            "OIDC_PROVIDER_PORT": str(self.port),
            "OIDC_PROVIDER_SEED": json.dumps(self._seed),
            "OIDC_PROVIDER_CONTROL_TOKEN": self._control_token,
        }
        self._log = open(Path(self._folder.name) / "provider.log", "w+")
        self._process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.oidc_provider.server"],
            cwd=PROJECT_DIR,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self._process.poll() is not None:
                raise RuntimeError(f"the identity provider stopped:\n{self.log()}")
            try:
                answer = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2)
                if answer.status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.__exit__(None, None, None)
                raise RuntimeError(f"the identity provider did not start:\n{self.log()}")
            time.sleep(0.1)

    def __exit__(self, *exc) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        self._log.close()
        self._folder.cleanup()

    def log(self) -> str:
        self._log.flush()
        self._log.seek(0)
        return self._log.read()[-4000:]

    def set_groups(self, username: str, groups: list[str]) -> None:
        """Change the person's groups in the provider's directory."""
        answer = httpx.post(
            f"http://127.0.0.1:{self.port}/test/groups",
            json={"username": username, "groups": groups},
            headers={"X-Test-Token": self._control_token},
            timeout=10,
        )
        assert answer.status_code == 204, answer.text
