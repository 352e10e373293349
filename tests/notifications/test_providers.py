"""Providers from the settings; the push libraries are imported only when configured."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import meetbook
from meetbook.config import Settings
from meetbook.notifications.mailbox import DevMailbox
from meetbook.notifications.providers import providers_from_settings
from meetbook.notifications.smtp import SmtpSender

from .test_fcm import write_service_account
from .test_webpush import vapid_key_path  # noqa: F401  (a fixture)

PUSH_MODULES = ("pywebpush", "aiohttp", "py_vapid", "http_ece", "google.auth", "google.oauth2")
SOURCE = str(Path(meetbook.__file__).resolve().parents[1])


def _imported_after(code: str, tmp_path: Path) -> list[str]:
    """Which push modules a fresh interpreter has loaded after running `code`."""
    probe = f"import sys\n{code}\nprint(__import__('json').dumps([m for m in {PUSH_MODULES!r} if m in sys.modules]))"
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no developer's .env
        env={"PYTHONPATH": SOURCE, "PATH": "/usr/bin:/bin"},
        check=True,
        timeout=60,
    )
    return list(json.loads(result.stdout.strip().splitlines()[-1]))


def test_importing_the_app_loads_no_push_library(tmp_path: Path) -> None:
    assert _imported_after("import meetbook.app", tmp_path) == []


def test_the_worker_with_push_off_loads_no_push_library(tmp_path: Path) -> None:
    code = (
        "from meetbook.config import Settings\n"
        "from meetbook.notifications.providers import providers_from_settings\n"
        "import meetbook.notifications.worker\n"
        "providers_from_settings(Settings(secret_key='x' * 32), None)"
    )
    assert _imported_after(code, tmp_path) == []


def test_configured_push_channels_are_built(
    tmp_path: Path,
    vapid_key_path: Path,  # noqa: F811
) -> None:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    credentials = write_service_account(tmp_path, key, "http://127.0.0.1:1/token")
    settings = Settings(
        secret_key="x" * 32,
        fcm_credentials=credentials,
        vapid_private_key=vapid_key_path,
        vapid_subject="mailto:ops@meet.example.test",
        smtp_host="127.0.0.1",
    )

    providers = providers_from_settings(settings, None)  # type: ignore[arg-type]

    assert isinstance(providers.email, SmtpSender)
    assert providers.fcm is not None and providers.fcm.project_id == "meetbook-test"
    assert providers.webpush is not None
    assert providers.webpush.subject == "mailto:ops@meet.example.test"


def test_without_push_or_smtp_only_the_dev_mailbox_is_built() -> None:
    providers = providers_from_settings(Settings(secret_key="x" * 32), None)  # type: ignore[arg-type]

    assert isinstance(providers.email, DevMailbox)
    assert providers.fcm is None and providers.webpush is None
