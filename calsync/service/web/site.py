"""The people-facing pages: sign-in, the team list, each pair's 1:1 page, the JSON API.

Server-rendered (Jinja2), usable without JavaScript; every asset is served from
``/static``. Who sees what:

- a person sees the pairs they are in, and changes them;
- ``[web] admins`` see every pair, read-only unless they are in it;
- anyone else gets 403; without a session, pages redirect to ``/signin`` and
  the API answers 401.

Changes are attributed to whoever is signed in. A person edits and removes
only their own topics and action items; either person of the pair adds,
reorders, marks discussed, writes the shared notes and ticks items done.
Private notes are read and written by their author only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from calsync.config import Settings
from calsync.engine.agenda import PairAgenda, pair_agenda
from calsync.model import normalize_email
from calsync.policies.meeting import discussion_key, new_topic_key
from calsync.report.mailer import SendFailed, SmtpMailer
from calsync.service.web import auth
from calsync.service.web.export import agenda_json
from calsync.service.web.oidc import OidcSignIn
from calsync.service.web.record_pages import RecordPages
from calsync.store import Store
from calsync.store.agenda import SHARED, PairRef

__all__ = ["TeamSite"]

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
UTC_ZONE = ZoneInfo("UTC")
MAX_TITLE = 500
MAX_NOTE = 20_000


class _SignInFirst(Exception):
    pass


def _guard(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Pages: without a session, off to sign-in (and back to the page afterwards)."""

    async def guarded(self: TeamSite, request: Request) -> Response:
        try:
            return await handler(self, request)
        except _SignInFirst:
            target = request.url.path if request.method == "GET" else "/"
            return RedirectResponse(f"/signin?next={quote(target)}", 303)

    guarded.__name__ = handler.__name__
    return guarded


class TeamSite:
    """The pages of one configured team."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        clock: Callable[[], datetime],
        *,
        send_mail: Callable[[EmailMessage], None] | None = None,
        oidc: OidcSignIn | None = None,
        on_booked: Callable[[str, str], None] | None = None,
    ) -> None:
        self.settings = settings
        # A make-up was queued on (provider, calendar): with a daemon in the process,
        # it syncs that calendar now, which performs the write (``Hooks.on_change``).
        self.on_booked = on_booked
        self.store = store
        self.clock = clock
        self.oidc = oidc
        self._send = send_mail or self._smtp_send
        self.env = Environment(
            loader=FileSystemLoader(HERE / "templates"),
            autoescape=select_autoescape(["html", "j2"]),
            trim_blocks=True, lstrip_blocks=True,
        )
        self.env.filters["when"] = self._when
        self.env.filters["day"] = self._day
        self.env.filters["name"] = self.name
        self.env.filters["ago"] = self._ago

    # -- plumbing -----------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        page = "/1on1/{page:str}"
        routes: list[BaseRoute] = [
            Route("/", self.home, methods=["GET"]),
            Route("/signin", self.signin_page, methods=["GET"]),
            Route("/signin/email", self.signin_email, methods=["POST"]),
            Route("/signin/link/{token:str}", self.signin_link, methods=["GET", "POST"]),
            Route("/signout", self.signout, methods=["POST"]),
            Route(page, self.pair_page, methods=["GET"]),
            Route(page + "/topics", self.topic_add, methods=["POST"]),
            Route(page + "/topics/{item:int}", self.topic_change, methods=["POST"]),
            Route(page + "/notes", self.note_save, methods=["POST"]),
            Route(page + "/actions", self.action_add, methods=["POST"]),
            Route(page + "/actions/{item:int}", self.action_change, methods=["POST"]),
            Route("/api/pairs/{page:str}/agenda", self.api_agenda, methods=["GET"]),
            Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
        ]
        routes[-1:-1] = RecordPages(self).routes()
        if self.oidc is not None:
            routes += self.oidc.routes(self)
        return routes

    def error_page(self, request: Request, status: int) -> Response | None:
        path = request.url.path
        if path.startswith(("/api/", "/push/", "/healthz", "/metrics")):
            return None
        messages = {
            403: "This page belongs to a 1:1 you are not part of.",
            404: "There is no such page.",
            405: "That is not something this page does.",
        }
        return self.render(request, "error.html.j2", status=status,
                           message=messages.get(status, "Something went wrong."),
                           code=status)

    def render(self, request: Request, template: str, status: int = 200,
               **context: Any) -> HTMLResponse:
        viewer = auth.signed_in(request)
        html = self.env.get_template(template).render(
            viewer=viewer, viewer_name=self.name(viewer) if viewer else "",
            csrf=auth.csrf_token(request), roles=self.roles(viewer), **context,
        )
        return HTMLResponse(html, status)

    def roles(self, viewer: str | None) -> set[str]:
        """"manager" and/or "report": which of the team and own pages ``viewer`` has."""
        roles = set()
        for pair in self.settings.pairs:
            if pair.manager == viewer:
                roles.add("manager")
            if pair.report == viewer:
                roles.add("report")
        return roles

    def base_url(self, request: Request) -> str:
        public = self.settings.web.public_url
        return public if public else str(request.base_url).rstrip("/")

    def name(self, email: str | None) -> str:
        if not email:
            return ""
        try:
            return self.settings.person(email).display
        except KeyError:
            return email

    def zone(self, email: str | None) -> ZoneInfo:
        try:
            return self.settings.person(email or "").zone
        except KeyError:
            return UTC_ZONE

    def _when(self, value: datetime | None, viewer: str | None = None) -> str:
        if value is None:
            return ""
        local = value.astimezone(self.zone(viewer))
        return f"{local:%a} {local.day} {local:%b %Y}, {local:%H:%M}"

    def _day(self, value: datetime | date | None, viewer: str | None = None) -> str:
        if value is None:
            return ""
        if isinstance(value, datetime):
            value = value.astimezone(self.zone(viewer)).date()
        return f"{value:%a} {value.day} {value:%b %Y}"

    def _ago(self, value: datetime | None) -> str:
        if value is None:
            return ""
        days = (self.clock() - value).days
        return "today" if days <= 0 else "1 day" if days == 1 else f"{days} days"

    def _viewer(self, request: Request) -> str:
        viewer = auth.signed_in(request)
        if viewer is None:
            raise _SignInFirst
        return viewer

    def _pair(self, request: Request, viewer: str) -> tuple[PairRef, bool]:
        return self.authorize(request.path_params["page"], viewer)

    def authorize(self, page: str, viewer: str) -> tuple[PairRef, bool]:
        """The page's pair and whether ``viewer`` may change it; 404 / 403 otherwise.

        The one place that decides who sees which pair: the pair pages, the API,
        the team page's booking and the report's own page all ask here.
        """
        ref = self.store.pair_of_page(page)
        if ref is None:
            raise HTTPException(404)
        if viewer in (ref.manager, ref.report):
            return ref, True
        if viewer in self.settings.web.admins:
            return ref, False
        log.info("web: %s refused the page of %s / %s", viewer, ref.manager, ref.report)
        raise HTTPException(403)

    async def _editable(self, request: Request) -> tuple[PairRef, str, FormData]:
        form = await auth.checked_form(request)  # CSRF before anything else
        viewer = self._viewer(request)
        ref, can_edit = self._pair(request, viewer)
        if not can_edit:
            raise HTTPException(403)
        return ref, viewer, form

    def _back(self, ref: PairRef, anchor: str = "") -> RedirectResponse:
        return RedirectResponse(f"/1on1/{ref.page_id}{'#' + anchor if anchor else ''}", 303)

    def _agenda(self, ref: PairRef, viewer: str) -> PairAgenda:
        now = self.clock()
        return self.agenda_of(ref, viewer, now, now.astimezone(self.zone(viewer)).date())

    def agenda_of(self, ref: PairRef, viewer: str, now: datetime, today: date) -> PairAgenda:
        return pair_agenda(self.store, ref.manager, ref.report, viewer, now, today)

    # -- sign-in --------------------------------------------------------------------------

    async def signin_page(self, request: Request) -> Response:
        return self.render(request, "signin.html.j2", next=_safe_next(request),
                           email_signin=self._email_signin(),
                           providers=self.oidc.names() if self.oidc else [],
                           sent=False)

    def refuse(self, request: Request, status: int, problem: str) -> Response:
        """The sign-in page again, saying why signing in did not work."""
        return self.render(request, "signin.html.j2", status=status, next="/",
                           email_signin=self._email_signin(),
                           providers=self.oidc.names() if self.oidc else [],
                           sent=False, problem=problem)

    def _email_signin(self) -> bool:
        return self.settings.web.email_signin and self.settings.smtp is not None

    def may_sign_in(self, email: str) -> bool:
        known = {p.email for p in self.settings.people}
        return email in known or email in self.settings.web.admins

    async def signin_email(self, request: Request) -> Response:
        form = await auth.checked_form(request)
        if not self._email_signin():
            raise HTTPException(404)
        raw = str(form.get("email") or "").strip()
        target = auth.safe_next(str(form.get("next") or "/"))
        email = normalize_email(raw) if "@" in raw and len(raw) < 320 else ""
        now = self.clock()
        if email and self.may_sign_in(email):
            recent = self.store.signin_requests_since(email, now - auth.LINK_WINDOW)
            if recent >= auth.LINK_LIMIT:
                log.warning("web: sign-in links for %s are rate-limited", email)
            else:
                token, digest = auth.new_link_token()
                self.store.add_signin_token(email, digest, now, auth.LINK_LIFETIME)
                link = f"{self.base_url(request)}/signin/link/{token}?next={quote(target)}"
                try:
                    await run_in_threadpool(self._send, self._link_mail(email, link))
                except SendFailed as exc:
                    log.error("web: the sign-in link for %s was not sent: %s", email, exc)
        elif email:
            log.info("web: a sign-in link was asked for an address not in the team")
        # The same answer whoever asked: the page does not tell who is in the team.
        return self.render(request, "signin.html.j2", sent=True, next=target,
                           email_signin=True, providers=[])

    def _link_mail(self, email: str, link: str) -> EmailMessage:
        message = EmailMessage()
        message["Subject"] = "Your calsync sign-in link"
        message["From"] = self.settings.report.from_address or "calsync"
        message["To"] = email
        message.set_content(
            f"Hello {self.name(email)},\n\nopen this link to sign in to calsync:\n\n{link}\n\n"
            "It works once, within 15 minutes. If you did not ask for it, ignore this email.\n"
        )
        return message

    def _smtp_send(self, message: EmailMessage) -> None:
        if self.settings.smtp is None:
            raise SendFailed("no [smtp] relay is configured", transient=False)
        SmtpMailer(self.settings.smtp, base_dir=self.settings.base_dir).send(message)

    async def signin_link(self, request: Request) -> Response:
        token = request.path_params["token"]
        target = _safe_next(request)
        if request.method == "GET":
            # A page with a button, not a sign-in: mail scanners open links too.
            return self.render(request, "signin_link.html.j2", token=token, next=target)
        form = await auth.checked_form(request)
        email = self.store.use_signin_token(auth.link_digest(token), self.clock())
        if email is None or not self.may_sign_in(email):
            return self.render(request, "signin.html.j2", status=400, next=target,
                               email_signin=self._email_signin(),
                               providers=self.oidc.names() if self.oidc else [],
                               sent=False, problem="That link was used already or has expired. "
                               "Ask for a new one below.")
        auth.sign_in(request, email)
        log.info("web: %s signed in by email link", email)
        return RedirectResponse(auth.safe_next(str(form.get("next") or target)), 303)

    async def signout(self, request: Request) -> Response:
        await auth.checked_form(request)
        request.session.clear()
        return RedirectResponse("/signin", 303)

    # -- pages ------------------------------------------------------------------------------

    @_guard
    async def home(self, request: Request) -> Response:
        viewer = self._viewer(request)
        admin = viewer in self.settings.web.admins
        now = self.clock()
        rows = []
        for pair in self.settings.pairs:
            if not admin and viewer not in (pair.manager, pair.report):
                continue
            ref = PairRef(pair.manager, pair.report,
                          self.store.page_id(pair.manager, pair.report, now))
            agenda = self._agenda(ref, viewer)
            rows.append({"ref": ref, "agenda": agenda,
                         "waiting": sum(1 for t in agenda.current.topics if not t.discussed)})
        return self.render(request, "home.html.j2", rows=rows, admin=admin)

    @_guard
    async def pair_page(self, request: Request) -> Response:
        viewer = self._viewer(request)
        ref, can_edit = self._pair(request, viewer)
        agenda = self._agenda(ref, viewer)
        # No series yet: the no_series finding says which recurring slot calsync proposes.
        no_series = next((f.message for f in self.store.open_findings(ref.manager)
                          if f.report == ref.report and f.kind == "no_series"), None)
        return self.render(
            request, "pair.html.j2", ref=ref, agenda=agenda, can_edit=can_edit,
            manager=self.name(ref.manager), report=self.name(ref.report),
            title=f"{self.name(ref.manager)} / {self.name(ref.report)}", no_series=no_series,
        )

    # -- changes ----------------------------------------------------------------------------

    @_guard
    async def topic_add(self, request: Request) -> Response:
        ref, viewer, form = await self._editable(request)
        title = _text(form, "title", MAX_TITLE)
        occurrences = self._agenda(ref, viewer).occurrences
        key = new_topic_key(occurrences, self.clock())
        self.store.add_topic(ref.manager, ref.report, key, title, viewer, self.clock())
        return self._back(ref, "agenda")

    @_guard
    async def topic_change(self, request: Request) -> Response:
        ref, viewer, form = await self._editable(request)
        ident = request.path_params["item"]
        agenda = self._agenda(ref, viewer)
        topic = next((t.topic for t in agenda.current.topics if t.topic.id == ident), None)
        if topic is None:
            topic = next((t.topic for m in agenda.history for t in m.topics
                          if t.topic.id == ident), None)
        if topic is None:
            raise HTTPException(404)
        action = str(form.get("do") or "")
        now = self.clock()
        m, r = ref.manager, ref.report
        if action in ("edit", "remove") and topic.author != viewer:
            raise HTTPException(403)
        if action == "edit":
            self.store.edit_topic(m, r, ident, _text(form, "title", MAX_TITLE), now)
        elif action == "remove":
            self.store.remove_topic(m, r, ident)
        elif action in ("up", "down"):
            shown = [t.topic.id for t in agenda.current.topics if not t.discussed]
            if ident not in shown:
                raise HTTPException(400, "only open topics on the next agenda are reordered")
            self.store.move_topic(m, r, ident, shown, -1 if action == "up" else 1)
        elif action == "discussed":
            key = discussion_key(agenda.occurrences, now, topic.occurrence)
            self.store.set_discussed(m, r, ident, key, viewer, now)
        elif action == "reopen":
            self.store.set_discussed(m, r, ident, None, viewer, now)
        else:
            raise HTTPException(400, "unknown change")
        return self._back(ref, f"topic-{ident}" if action != "remove" else "agenda")

    @_guard
    async def note_save(self, request: Request) -> Response:
        ref, viewer, form = await self._editable(request)
        try:
            occurrence = datetime.fromisoformat(str(form.get("occurrence") or ""))
        except ValueError:
            raise HTTPException(400, "which 1:1 is this note for?") from None
        if occurrence.tzinfo is None:
            raise HTTPException(400, "which 1:1 is this note for?")
        agenda = self._agenda(ref, viewer)
        keys = {agenda.current.key, *(m.key for m in agenda.history)}
        if occurrence not in keys:
            raise HTTPException(400, "that 1:1 is not in this pair's record")
        kind = str(form.get("kind") or "")
        if kind not in ("shared", "private"):
            raise HTTPException(400, "a note is shared or private")
        body = str(form.get("body") or "")
        if len(body) > MAX_NOTE:
            raise HTTPException(413, "notes are at most 20,000 characters")
        owner = SHARED if kind == "shared" else viewer
        self.store.save_note(ref.manager, ref.report, occurrence, owner, body, viewer,
                             self.clock())
        return self._back(ref, "notes")

    @_guard
    async def action_add(self, request: Request) -> Response:
        ref, viewer, form = await self._editable(request)
        title = _text(form, "title", MAX_TITLE)
        owner = normalize_email(str(form.get("owner") or viewer))
        if owner not in (ref.manager, ref.report):
            raise HTTPException(400, "an action item belongs to one of the two")
        due_text = str(form.get("due") or "").strip()
        try:
            due = date.fromisoformat(due_text) if due_text else None
        except ValueError:
            raise HTTPException(400, "the due date is YYYY-MM-DD") from None
        agenda = self._agenda(ref, viewer)
        key = agenda.current.key or new_topic_key(agenda.occurrences, self.clock())
        self.store.add_action(ref.manager, ref.report, key, title, owner, due, viewer,
                              self.clock())
        return self._back(ref, "actions")

    @_guard
    async def action_change(self, request: Request) -> Response:
        ref, viewer, form = await self._editable(request)
        ident = request.path_params["item"]
        items = {a.id: a for a in self.store.actions_of(ref.manager, ref.report)}
        item = items.get(ident)
        if item is None:
            raise HTTPException(404)
        action = str(form.get("do") or "")
        now = self.clock()
        if action in ("done", "undone"):
            self.store.set_action_done(ref.manager, ref.report, ident, action == "done",
                                       viewer, now)
        elif action == "remove":
            if item.author != viewer:
                raise HTTPException(403)
            self.store.remove_action(ref.manager, ref.report, ident)
        else:
            raise HTTPException(400, "unknown change")
        return self._back(ref, "actions")

    # -- the JSON API -------------------------------------------------------------------------

    async def api_agenda(self, request: Request) -> Response:
        viewer = auth.signed_in(request)
        if viewer is None:
            return JSONResponse({"error": "sign in first"}, 401)
        ref, _ = self._pair(request, viewer)
        agenda = self._agenda(ref, viewer)
        return JSONResponse(agenda_json(agenda, ref.page_id, self.name))


def _text(form: FormData, name: str, limit: int) -> str:
    value = " ".join(str(form.get(name) or "").split())
    if not value:
        raise HTTPException(400, f"the {name} is empty")
    if len(value) > limit:
        raise HTTPException(413, f"the {name} is longer than {limit} characters")
    return value


def _safe_next(request: Request) -> str:
    return auth.safe_next(request.query_params.get("next", "/"))
