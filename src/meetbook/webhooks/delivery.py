"""Delivering the outbox's webhook rows: sign, POST, log the attempt, decide what next.

Each message is signed per attempt with the reference library (`standardwebhooks`):
`webhook-id` (the message's, the same on every retry and redelivery), `webhook-timestamp`
(the attempt's) and `webhook-signature: v1,<base64 HMAC-SHA256>`. Outcomes go through the
outbox's `Deliverer.deliver_with`, with this module's retry schedule (`WebhookRetry`:
about 3 days, the first retry within a minute) instead of the email/push one.

- 2xx: sent. The endpoint's failure streak ends.
- 410: the endpoint is disabled at once (its queued messages are cancelled).
- anything else (another status, a timeout, a refused address): retried by the schedule.
  An endpoint whose deliveries have all failed for DISABLE_AFTER is disabled, and the
  team's admins are emailed (rows of this same outbox, `webhook-disabled`).

Every attempt is logged (`webhook_attempts`) with at most EXCERPT_CHARS of the answer.
The URL passes `outbound.py`'s guard again before each call, and the aiohttp session
checks every address it connects to (`outbound_http.py`); redirects are not followed.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from standardwebhooks import Webhook as Signer

from meetbook.i18n import N_, _, speaking
from meetbook.models import Notification, Team, TeamMember, User, Webhook, WebhookAttempt
from meetbook.notifications.content import one_line
from meetbook.notifications.delivery import Deliverer, RetryPolicy
from meetbook.notifications.errors import (
    PermanentDeliveryError,
    TemporaryDeliveryError,
    parse_retry_after,
)
from meetbook.notifications.outbox import wake_workers
from meetbook.outbound import OutboundRefused, resolve_public_url
from meetbook.webhooks.outbox import CHANNEL
from meetbook.webhooks.secrets import InvalidToken, open_secret

log = logging.getLogger("meetbook.webhooks")

TIMEOUT_SECONDS = 10.0
EXCERPT_CHARS = 256
DISABLE_AFTER = timedelta(days=3)
# The note to a team's admins when one of its endpoints was disabled.
DISABLED_EVENT = "webhook-disabled"
# Why a webhook was disabled (stored English for the API; the email translates it).
GONE_REASON = N_("the endpoint answered 410 Gone")


@dataclass(frozen=True)
class WebhookRetry(RetryPolicy):
    """Retries over about 3.2 days: 30 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h
    after the failed attempts, each ±20 % jitter (so receivers that failed together are
    not retried together), honouring a longer Retry-After up to the last step."""

    schedule: tuple[float, ...] = (30, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
    max_attempts: int = 10
    jitter: float = 0.2

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        base = self.schedule[min(max(attempt, 1), len(self.schedule)) - 1]
        delay = base * random.uniform(1 - self.jitter, 1 + self.jitter)
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.schedule[-1]))
        return float(delay)


@dataclass
class WebhookDelivery:
    """A claimed webhook row (or a note to an admin) with what sending it needs."""

    notification: Notification
    webhook: Webhook | None  # None: deleted since
    team_name: str
    reader: User | None = None  # the admin a `webhook-disabled` note goes to


@dataclass(frozen=True)
class Answer:
    """What the endpoint said to one attempt (or why nothing was said)."""

    status_code: int | None = None
    excerpt: str | None = None
    error: str | None = None
    retry_after: float | None = None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300

    def describe(self) -> str:
        if self.status_code is None:
            return self.error or "no answer"
        return f"the endpoint answered {self.status_code}"


async def webhook_deliveries_of(
    session: AsyncSession, rows: Sequence[Notification]
) -> list[WebhookDelivery]:
    """Webhook rows already read, in their order, with their endpoints and teams."""
    if not rows:
        return []
    hook_ids = {row.webhook_id for row in rows}
    hooks = {
        h.id: h for h in await session.scalars(select(Webhook).where(Webhook.id.in_(hook_ids)))
    }
    team_ids = {h.team_id for h in hooks.values()}
    names = await session.execute(select(Team.id, Team.name).where(Team.id.in_(team_ids)))
    teams = {team_id: name for team_id, name in names.tuples()}
    user_ids = {row.user_id for row in rows if row.user_id is not None}
    users = {u.id: u for u in await session.scalars(select(User).where(User.id.in_(user_ids)))}
    deliveries = []
    for row in rows:
        hook = hooks.get(row.webhook_id or 0)
        deliveries.append(
            WebhookDelivery(
                notification=row,
                webhook=hook,
                team_name=teams.get(hook.team_id, "") if hook else "",
                reader=users.get(row.user_id) if row.user_id is not None else None,
            )
        )
    return deliveries


def signed_headers(secret: str, message_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt."""
    return {
        "content-type": "application/json",
        "user-agent": "meetbook-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Signer(secret).sign(message_id, at, body),
    }


def body_of(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass
class WebhookDeliverer:
    """Sends the outbox's webhook rows through `deliverer` (its leases, outcomes, metrics)."""

    deliverer: Deliverer
    retry: RetryPolicy = field(default_factory=WebhookRetry)
    timeout: float = TIMEOUT_SECONDS

    async def deliver(self, item: WebhookDelivery) -> None:
        row = item.notification
        if row.channel == CHANNEL:
            await self.deliverer.deliver_with(row, lambda: self._post(item), retry=self.retry)
        else:
            await self.deliverer.deliver_with(row, lambda: self._email_admin(item))

    async def _post(self, item: WebhookDelivery) -> None:
        row, hook = item.notification, item.webhook
        if hook is None or not hook.enabled:
            raise PermanentDeliveryError("the webhook was disabled or deleted")
        settings = self.deliverer.settings
        try:
            secret = open_secret(hook.secret_encrypted, settings.resolved_secret_key())
        except InvalidToken:
            raise PermanentDeliveryError(
                "the webhook's secret cannot be read (MEETBOOK_SECRET_KEY changed since it "
                "was added); add the webhook again"
            ) from None
        at = self.deliverer.clock()
        body = body_of(row.context["payload"])
        headers = signed_headers(secret, str(row.context["message_id"]), at, body)
        answer = await self._request(hook.url, body, headers)
        disabled = await self._log(item, hook, answer, at)
        if answer.ok:
            return
        if disabled is not None:
            raise PermanentDeliveryError(f"{answer.describe()}; the webhook was disabled")
        raise TemporaryDeliveryError(answer.describe(), answer.retry_after)

    async def _request(self, url: str, body: bytes, headers: dict[str, str]) -> Answer:
        # aiohttp is imported when a webhook is first sent, not with the worker.
        import aiohttp

        from meetbook.outbound_http import public_only_session

        allow = self.deliverer.settings.allow_private_targets
        try:
            await resolve_public_url(url, allow_private=allow)
            timeout = aiohttp.ClientTimeout(total=self.timeout)
            async with (
                public_only_session(allow_private=allow, timeout=timeout) as http,
                http.post(url, data=body, headers=headers, allow_redirects=False) as response,
            ):
                # Only the start of the answer is read, and only an excerpt is kept.
                start = await response.content.read(EXCERPT_CHARS * 4)
                return Answer(
                    status_code=response.status,
                    excerpt=start.decode("utf-8", "replace")[:EXCERPT_CHARS] or None,
                    retry_after=parse_retry_after(response.headers.get("Retry-After")),
                )
        except OutboundRefused as error:
            return Answer(error=f"the URL is not allowed because {error.reason}")
        except TimeoutError:
            return Answer(error=f"no answer within {self.timeout:g} seconds")
        except (aiohttp.ClientError, OSError) as error:
            return Answer(error=f"{type(error).__name__}: {error}"[:300])

    async def _log(
        self, item: WebhookDelivery, hook: Webhook, answer: Answer, at: datetime
    ) -> str | None:
        """Log the attempt and update the endpoint's state; the reason if it was disabled."""
        row = item.notification
        async with self.deliverer.sessionmaker() as session, session.begin():
            current = await session.get(Webhook, hook.id, with_for_update=True)
            if current is None:  # deleted meanwhile, and its log with it
                return None
            session.add(
                WebhookAttempt(
                    webhook_id=hook.id,
                    notification_id=row.id,
                    message_id=str(row.context["message_id"]),
                    event=row.event,
                    attempt=row.attempts,
                    status_code=answer.status_code,
                    response_excerpt=answer.excerpt,
                    error=None if answer.ok else (answer.error or answer.describe()),
                    payload=row.context["payload"],
                    at=at,
                )
            )
            reason: str | None = None
            days: int | None = None
            if answer.ok:
                current.failing_since = None
            elif answer.status_code == 410:
                reason = GONE_REASON
            else:
                current.failing_since = current.failing_since or at
                if at - current.failing_since >= DISABLE_AFTER:
                    days = (at - current.failing_since).days
                    reason = f"every delivery failed for {days} days"
            if reason is not None and current.enabled:
                await _disable(session, current, reason, at, item.team_name, days)
        log.info(
            "webhook.attempt",
            extra={
                "webhook_id": hook.id,
                "notification_id": row.id,
                "attempt": row.attempts,
                "status_code": answer.status_code,
                "error": (answer.error or "")[:300],
            },
        )
        return reason

    async def _email_admin(self, item: WebhookDelivery) -> None:
        if item.reader is None or item.webhook is None:
            raise PermanentDeliveryError("the admin or the webhook no longer exists")
        settings = self.deliverer.settings
        message = disabled_email(
            item,
            mail_from=settings.mail_from,
            base_url=settings.base_url,
            domain=settings.mail_domain,
        )
        await self.deliverer.providers.email.send(message)


async def _disable(
    session: AsyncSession,
    hook: Webhook,
    reason: str,
    at: datetime,
    team_name: str,
    days: int | None = None,
) -> None:
    """Disable `hook`, cancel its queued messages and queue a note to each team admin."""
    hook.enabled = False
    hook.disabled_reason = reason
    hook.disabled_at = at
    await session.execute(
        update(Notification)
        .where(
            Notification.webhook_id == hook.id,
            Notification.channel == CHANNEL,
            Notification.status == "pending",
            Notification.lease_owner.is_(None),
        )
        .values(status="cancelled")
        .execution_options(synchronize_session=False)
    )
    admins = (
        await session.scalars(
            select(TeamMember.user_id).where(
                TeamMember.team_id == hook.team_id, TeamMember.role == "admin"
            )
        )
    ).all()
    session.add_all(
        Notification(
            event=DISABLED_EVENT,
            meeting_id=None,
            user_id=admin_id,
            channel="email",
            webhook_id=hook.id,
            # `days` lets the email say the reason in its reader's language.
            context={"reason": reason, "days": days},
            next_attempt_at=at.astimezone(UTC),
        )
        for admin_id in admins
    )
    await wake_workers(session)
    log.warning(
        "webhook.disabled",
        extra={"webhook_id": hook.id, "team_id": hook.team_id, "reason": reason, "team": team_name},
    )


def disabled_email(
    item: WebhookDelivery, *, mail_from: str, base_url: str, domain: str
) -> EmailMessage:
    """The note telling a team admin that one of the team's webhooks was disabled.

    Written in the admin's language; the stored reason (the API's) stays English.
    """
    assert item.reader is not None and item.webhook is not None
    with speaking(item.reader.locale):
        return _disabled_email(item, mail_from=mail_from, base_url=base_url, domain=domain)


def _disabled_email(
    item: WebhookDelivery, *, mail_from: str, base_url: str, domain: str
) -> EmailMessage:
    assert item.reader is not None and item.webhook is not None
    hook, row = item.webhook, item.notification
    team = one_line(item.team_name)
    message = EmailMessage()
    message["Subject"] = one_line(_("A webhook of %(team)s was disabled", team=team))
    name, address = parseaddr(mail_from)
    message["From"] = Address(display_name=one_line(name), addr_spec=address)
    message["To"] = Address(display_name=one_line(item.reader.name), addr_spec=item.reader.email)
    message["Date"] = format_datetime(datetime.now(UTC))
    message["Message-ID"] = f"<notification-{row.id}.webhook-{hook.id}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    deliveries = f"GET {base_url}/api/v3/teams/{hook.team_id}/webhooks/{hook.id}/deliveries"
    lines = [
        _("Hello %(to_name)s,", to_name=one_line(item.reader.name)),
        "",
        _("meetbook stopped sending events of the team %(team)s to the webhook", team=team),
        hook.url,
        _("because %(reason)s.", reason=_disabled_reason(row.context)),
        "",
        _("Its recent deliveries: %(url)s", url=deliveries),
        _("When the endpoint works again, add the webhook again (it gets a new secret)."),
    ]
    message.set_content("\n".join(lines) + "\n", cte="quoted-printable")
    return message


def _disabled_reason(context: dict[str, object]) -> str:
    """The reason a webhook was disabled, in the current language."""
    reason = context.get("reason")
    days = context.get("days")
    if reason == GONE_REASON:
        return _(GONE_REASON)
    if isinstance(days, int):
        return _("every delivery failed for %(days)s days", days=days)
    if reason:
        return one_line(str(reason))
    return _("it kept failing")
