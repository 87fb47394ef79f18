"""Email notifications, received by a real SMTP server (aiosmtpd) and parsed as a client would."""

from __future__ import annotations

import email
from email.message import Message
from typing import Any

import httpx
import icalendar
import pytest
from aiosmtpd.controller import Controller
from aiosmtplib import SMTPAuthenticationError, SMTPConnectError, SMTPException
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bookit_graphql.integrations.mail import SmtpMailer
from bookit_graphql.integrations.models import Notification
from bookit_graphql.integrations.worker import Worker
from tests.bookings.support import RESCHEDULE_BOOKING, SET_BOOKING_STATUS, at, booked
from tests.factories import Rows
from tests.helpers import Account, gql
from tests.integrations.conftest import Inbox

MY_NOTIFICATIONS = (
    "query { notifications(first: 50) { totalCount edges { node "
    "{ id kind bookingId channel status sentAt createdAt } } } }"
)


def invite(message: Message) -> tuple[str, icalendar.Component]:
    """The calendar part: its Content-Type `method`, and its VEVENT."""
    (part,) = [p for p in message.walk() if p.get_content_type() == "text/calendar"]
    calendar = icalendar.Calendar.from_ical(part.get_payload(decode=True))
    assert calendar["METHOD"] == part.get_param("method")
    (event,) = calendar.walk("VEVENT")
    return str(part.get_param("method")), event


async def test_a_booking_s_life_in_emails_with_one_calendar_event(
    client: httpx.AsyncClient,
    admin: Account,
    alice: Account,
    rows: Rows,
    worker: Worker,
    smtp: tuple[Inbox, int],
    db: async_sessionmaker[AsyncSession],
) -> None:
    inbox, port = smtp
    worker.mail = SmtpMailer(f"smtp://127.0.0.1:{port}")
    service_id = await rows.service(title="Yoga")
    # when alice books a week ahead, an admin confirms, alice moves it, then cancels it
    booking = await booked(client, alice.token, service_id, at(1))
    await worker.drain()
    listed = await gql(client, MY_NOTIFICATIONS, token=alice.token)
    kinds = {
        e["node"]["kind"]: e["node"]["status"] for e in listed["data"]["notifications"]["edges"]
    }
    assert kinds == {"BOOKING_RECEIVED": "SENT", "REMINDER": "PENDING"}
    await gql(
        client, SET_BOOKING_STATUS, {"id": booking["id"], "status": "CONFIRMED"}, token=admin.token
    )
    await gql(
        client, RESCHEDULE_BOOKING, {"id": booking["id"], "startsAt": at(5)}, token=alice.token
    )
    await gql(
        client, SET_BOOKING_STATUS, {"id": booking["id"], "status": "CANCELLED"}, token=alice.token
    )
    await worker.drain()
    await worker.drain()  # a second pass sends nothing twice
    # then alice got four emails about one calendar event, its SEQUENCE growing
    assert [m["To"] for m in inbox.messages] == ["Alice <alice@example.com>"] * 4
    subjects = [m["Subject"] for m in inbox.messages]
    assert subjects == [
        "Booking received: Yoga",
        "Booking confirmed: Yoga",
        "Booking moved: Yoga",
        "Booking cancelled: Yoga",
    ]
    invites = [invite(m) for m in inbox.messages]
    assert [method for method, _ in invites] == ["REQUEST", "REQUEST", "REQUEST", "CANCEL"]
    assert {str(e["UID"]) for _, e in invites} == {f"booking-{booking['id']}@bookit"}
    assert [int(e["SEQUENCE"]) for _, e in invites] == [0, 1, 2, 3]
    assert [str(e["STATUS"]) for _, e in invites] == [
        "TENTATIVE",
        "CONFIRMED",
        "CONFIRMED",
        "CANCELLED",
    ]
    moved = invites[2][1]
    assert moved.decoded("DTSTART").isoformat() == at(5).replace("+00:00", "+00:00")
    # plain text and HTML, times in the service's zone (UTC by default)
    plain = next(p for p in inbox.messages[0].walk() if p.get_content_type() == "text/plain")
    assert "Yoga" in plain.get_payload(decode=True).decode()
    assert "(UTC)" in plain.get_payload(decode=True).decode()
    assert any(p.get_content_type() == "text/html" for p in inbox.messages[0].walk())
    # and every reminder was withdrawn (the move scheduled a new one, the cancel withdrew it)
    listed = await gql(client, MY_NOTIFICATIONS, token=alice.token)
    nodes = [e["node"] for e in listed["data"]["notifications"]["edges"]]
    reminders = [n["status"] for n in nodes if n["kind"] == "REMINDER"]
    assert reminders == ["WITHDRAWN", "WITHDRAWN"]
    assert all(n["channel"] == "EMAIL" for n in nodes)
    assert all(n["sentAt"] for n in nodes if n["status"] == "SENT")
    # a user sees only their own
    bob_sees = await gql(client, MY_NOTIFICATIONS, token=(await _bob(client)).token)
    assert bob_sees["data"]["notifications"]["totalCount"] == 0


async def _bob(client: httpx.AsyncClient) -> Account:
    from tests.helpers import sign_up

    return await sign_up(client, "bob@example.com", full_name="Bob")


async def test_the_reminder_goes_24_hours_before_and_not_for_a_booking_made_later(
    client: httpx.AsyncClient,
    alice: Account,
    rows: Rows,
    worker: Worker,
    smtp: tuple[Inbox, int],
    db: async_sessionmaker[AsyncSession],
) -> None:
    inbox, port = smtp
    worker.mail = SmtpMailer(f"smtp://127.0.0.1:{port}")
    service_id = await rows.service(title="Judo")
    await booked(client, alice.token, service_id, at(1))
    await worker.drain()
    assert len(inbox.messages) == 1  # the reminder waits for its time
    async with db.begin() as session:  # its time comes
        await session.execute(
            update(Notification)
            .where(Notification.kind == "REMINDER")
            .values(send_at=Notification.created_at)
        )
    await worker.drain()
    assert [m["Subject"] for m in inbox.messages] == [
        "Booking received: Judo",
        "Reminder: Judo tomorrow",
    ]
    method, event = invite(inbox.messages[1])
    assert method == "REQUEST"
    assert int(event["SEQUENCE"]) == 0
    # a booking made less than 24 hours ahead gets no reminder
    from datetime import UTC, datetime, timedelta

    soon = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0).isoformat()
    await booked(client, alice.token, service_id, soon)
    await worker.drain()
    listed = await gql(client, MY_NOTIFICATIONS, token=alice.token)
    kinds = sorted(e["node"]["kind"] for e in listed["data"]["notifications"]["edges"])
    assert kinds == ["BOOKING_RECEIVED", "BOOKING_RECEIVED", "REMINDER"]


async def test_without_smtp_development_mail_lands_as_eml_files(
    client: httpx.AsyncClient, alice: Account, rows: Rows, worker: Worker, tmp_path: Any
) -> None:
    service_id = await rows.service(title="Tea")
    await booked(client, alice.token, service_id, at(1))
    await worker.drain()
    (written,) = (tmp_path / "mail").glob("*.eml")
    message = email.message_from_bytes(written.read_bytes())
    assert message["Subject"] == "Booking received: Tea"
    assert invite(message)[0] == "REQUEST"


async def test_the_email_shows_the_service_s_local_time_and_the_invite_utc(
    client: httpx.AsyncClient,
    alice: Account,
    rows: Rows,
    worker: Worker,
    smtp: tuple[Inbox, int],
) -> None:
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    inbox, port = smtp
    worker.mail = SmtpMailer(f"smtp://127.0.0.1:{port}")
    # given a service in Berlin
    service_id = await rows.service(title="Sauna", time_zone="Europe/Berlin")
    # when alice books it
    starts = at(1)
    await booked(client, alice.token, service_id, starts)
    await worker.drain()
    # then the text gives the start as Berlin's wall clock shows it, and never the UTC hour
    (message,) = inbox.messages
    plain = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    text = plain.get_payload(decode=True).decode()
    utc = datetime.fromisoformat(starts).astimezone(UTC)
    local = utc.astimezone(ZoneInfo("Europe/Berlin"))
    assert local.utcoffset() != utc.utcoffset()  # the hours differ, so the check means something
    name = local.tzname()
    assert name in ("CET", "CEST")
    assert f"Starts: {local:%A %d %B %Y, %H:%M} ({name})" in text
    assert f"{utc:%H:%M} (UTC)" not in text
    html_part = next(p for p in message.walk() if p.get_content_type() == "text/html")
    assert f"{local:%H:%M} ({name})" in html_part.get_payload(decode=True).decode()
    # and the invite holds the same instant in UTC, which every calendar app reads
    _, event = invite(message)
    assert event.decoded("DTSTART") == utc
    assert event["DTSTART"].to_ical().decode().endswith("Z")


def _message() -> Any:
    from email.message import EmailMessage

    message = EmailMessage()
    message["Subject"] = "Hello"
    message["From"] = "BookIt <bookit@localhost>"
    message["To"] = "alice@example.com"
    message.set_content("hi\n")
    return message


# plain AUTH over an unencrypted loopback connection: fine in a test, warned about by aiosmtpd
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_smtp_with_a_user_and_password_authenticates() -> None:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    from tests.conftest import free_port

    logins: list[tuple[str, bool]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        ok = (data.login, data.password) == (b"mailer", b"s3cret/word")
        logins.append((data.login.decode(), ok))
        return AuthResult(success=ok, handled=False)  # unhandled: aiosmtpd answers 535 itself

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        # the password percent-encoded in the URL, as README.md says
        await SmtpMailer(f"smtp://mailer:s3cret%2Fword@127.0.0.1:{port}").send(_message())
        with pytest.raises(SMTPException):  # the server requires a login
            await SmtpMailer(f"smtp://127.0.0.1:{port}", timeout=5).send(_message())
        # a wrong password is refused by the server, and the error does not repeat it
        with pytest.raises(SMTPAuthenticationError) as refused:
            await SmtpMailer(f"smtp://mailer:wr0ng-pass@127.0.0.1:{port}", timeout=5).send(
                _message()
            )
        assert "wr0ng-pass" not in str(refused.value)
    finally:
        controller.stop()
    # the right login once; the wrong one refused for each mechanism aiosmtplib tries
    assert logins[0] == ("mailer", True)
    assert set(logins[1:]) == {("mailer", False)}  # and at least one
    assert [m["Subject"] for m in inbox.messages] == ["Hello"]


# plain AUTH over an unencrypted loopback connection: fine in a test, warned about by aiosmtpd
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
async def test_a_password_is_not_sent_in_clear_to_another_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from aiosmtpd.smtp import AuthResult

    from bookit_graphql.integrations import mail
    from tests.conftest import free_port

    logins: list[object] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        logins.append(data)
        return AuthResult(success=True)

    inbox, port = Inbox(), free_port()
    controller = Controller(
        inbox,
        hostname="127.0.0.1",
        port=port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        # given a server without STARTTLS that the mailer takes for another machine's
        assert mail.loopback("127.0.0.1")
        assert mail.loopback("::1")
        assert mail.loopback("localhost")
        assert not mail.loopback("smtp.example.com")
        assert not mail.loopback("192.0.2.10")
        monkeypatch.setattr(mail, "loopback", lambda host: False)
        # when mail is sent with a password over smtp://
        with pytest.raises(SMTPException, match="STARTTLS"):
            await SmtpMailer(f"smtp://mailer:s3cret@127.0.0.1:{port}", timeout=5).send(_message())
    finally:
        controller.stop()
    # then the server never saw the login, nor the message
    assert logins == []
    assert inbox.messages == []


async def test_smtps_delivers_over_tls_to_a_verified_certificate(tmp_path: Any) -> None:
    import ssl

    import trustme

    from bookit_graphql.config import Settings
    from bookit_graphql.integrations.mail import mailer
    from tests.conftest import free_port

    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, ssl_context=server_context)
    controller.start()
    try:
        # a certificate from a CA the client does not trust is refused
        with pytest.raises(SMTPConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            await SmtpMailer(f"smtps://127.0.0.1:{port}", timeout=5).send(_message())
        assert inbox.messages == []
        # with the test CA named in the settings, the message goes over TLS
        settings = Settings(
            secret_key="x" * 40, smtp_url=f"smtps://127.0.0.1:{port}", smtp_ca_file=str(ca_file)
        )
        await mailer(settings).send(_message())
    finally:
        controller.stop()
    assert [m["Subject"] for m in inbox.messages] == ["Hello"]
