"""Debian's nginx running the shipped site (deploy/nginx/meetbook.conf) in a temp dir.

The site file is used as it stands except for what must differ on a test machine: the
upstream ports, the listening ports (loopback, free ones) and a self-signed certificate.
Each of those edits must match exactly once, so a change to the shipped file that the
test would no longer exercise fails loudly instead. nginx runs in the foreground as our
child (`daemon off`), with its pid file, logs and temp files under the directory.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import os
import re
import signal
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.deploy.conftest import DEPLOY
from tests.reliability.harness import free_port

SITE = DEPLOY / "nginx" / "meetbook.conf"
SERVER_NAME = "meet.example.com"
# $msec is the wall time the request ended; the request id is the client's X-Request-Id.
ACCESS_LOG_FORMAT = (
    "'$msec $http_x_request_id $request_method $uri $status "
    '"$upstream_addr" "$upstream_status" $request_time\''
)


def self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for meet.example.com and 127.0.0.1, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, SERVER_NAME)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName(SERVER_NAME), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def _replace_once(text: str, pattern: str, replacement: str) -> str:
    changed, count = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert count == 1, f"{SITE.name}: expected one match of {pattern!r}, found {count}"
    return changed


def site_for_test(
    api_ports: list[int], http_port: int, https_port: int, cert: Path, key: Path
) -> str:
    """The shipped site with this machine's ports and certificate."""
    text = SITE.read_text()
    shipped = re.findall(r"^\s*server 127\.0\.0\.1:(\d+) ", text, flags=re.MULTILINE)
    assert len(shipped) == len(api_ports), (shipped, api_ports)
    for old, new in zip(shipped, api_ports, strict=True):
        text = _replace_once(text, rf"(server 127\.0\.0\.1:){old} ", rf"\g<1>{new} ")
    text = _replace_once(text, r"^\s*listen \[::\]:80;\n", "")
    text = _replace_once(text, r"^\s*listen \[::\]:443 ssl http2;\n", "")
    text = _replace_once(text, r"listen 80;", f"listen 127.0.0.1:{http_port};")
    text = _replace_once(
        text, r"listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"
    )
    text = _replace_once(text, r"ssl_certificate \S+;", f"ssl_certificate {cert};")
    return _replace_once(text, r"ssl_certificate_key \S+;", f"ssl_certificate_key {key};")


@dataclass(frozen=True)
class Answer:
    """One line of the access log: what nginx did with one request."""

    ended: float  # wall time
    request_id: str
    method: str
    path: str
    status: int
    upstreams: list[tuple[str, str]]  # (address, status) per upstream tried, in order


class Nginx:
    """nginx with the shipped site in front of `api_ports`, on free loopback ports."""

    def __init__(self, binary: str, directory: Path, api_ports: list[int]) -> None:
        self.binary = binary
        self.directory = directory
        self.http_port, self.https_port = free_port(), free_port()
        self.cert, key = self_signed_certificate(directory)
        site = site_for_test(api_ports, self.http_port, self.https_port, self.cert, key)
        (directory / "meetbook.conf").write_text(site)
        temp_paths = "\n".join(
            f"    {kind}_temp_path {directory / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        # As root, nginx's workers would switch to `nobody`, who cannot enter pytest's
        # private temp dir: keep them as the user running the test.
        user = "user root;\n" if os.geteuid() == 0 else ""
        (directory / "nginx.conf").write_text(
            f"{user}worker_processes 1;\npid {directory / 'nginx.pid'};\n"
            f"error_log {directory / 'error.log'} warn;\n"
            "events { worker_connections 512; }\n"
            "http {\n"
            f"    log_format upstreams {ACCESS_LOG_FORMAT};\n"
            f"    access_log {directory / 'access.log'} upstreams;\n"
            f"{temp_paths}\n"
            f"    include {directory / 'meetbook.conf'};\n"
            "}\n"
        )
        self.popen: subprocess.Popen[bytes] | None = None
        self.url = f"https://127.0.0.1:{self.https_port}"

    def _command(self, *extra: str) -> list[str]:
        return [
            self.binary, "-p", f"{self.directory}/", "-c", str(self.directory / "nginx.conf"),
            "-e", str(self.directory / "error.log"), *extra,
        ]  # fmt: skip

    def start(self, timeout: float = 20.0) -> None:
        checked = subprocess.run(
            self._command("-t"), capture_output=True, text=True, timeout=30, check=False
        )
        assert checked.returncode == 0, f"nginx -t refused the site:\n{checked.stderr}"
        with (self.directory / "nginx.out").open("ab") as out:
            self.popen = subprocess.Popen(
                self._command("-g", "daemon off;"),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.popen.poll() is None, f"nginx exited:\n{self.error_log()}"
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{self.http_port}/", timeout=1.0)
                return
            time.sleep(0.1)
        raise AssertionError(f"nginx did not listen within {timeout} s:\n{self.error_log()}")

    def stop(self) -> None:
        if self.popen is None or self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGQUIT)  # graceful: finish, then exit
        try:
            self.popen.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=10)

    def ssl_context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str(self.cert))

    def error_log(self) -> str:
        with contextlib.suppress(OSError):
            return (self.directory / "error.log").read_text(errors="replace")[-3000:]
        return "(no error log)"

    def answers(self) -> Iterator[Answer]:
        for line in (self.directory / "access.log").read_text().splitlines():
            found = re.fullmatch(r'(\S+) (\S+) (\S+) (\S+) (\d+) "([^"]*)" "([^"]*)" \S+', line)
            assert found, f"unexpected access log line {line!r}"
            ended, request_id, method, path, status, addresses, statuses = found.groups()
            pairs = list(
                zip(
                    [a.strip() for a in addresses.split(",")] if addresses != "-" else [],
                    [s.strip() for s in statuses.split(",")] if statuses != "-" else [],
                    strict=False,
                )
            )
            yield Answer(float(ended), request_id, method, path, int(status), pairs)
