"""Web shop and app events: cookies, devices, logins, signups, orders.

A browser cookie (``anonymous_id``) lives until it is cleared; everything it sees is
anonymous until the person logs in or types an email (newsletter, guest checkout). After a
login the cookie may remember the user, so later sessions carry ``user_id`` from the start.
App installs have a ``device_id``; most app users stay logged in. Some households share one
computer, so one cookie can belong to two people.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from json.encoder import encode_basestring

import numpy as np

from cdp_dev.synthetic.common import (
    Calendar,
    Streams,
    Weighted,
    lapse_days,
    poisson_days,
    uuid4_text,
)
from cdp_dev.synthetic.crm import CrmSystem, Signup
from cdp_dev.synthetic.noise import JUNK_EMAILS, Noise
from cdp_dev.synthetic.population import Person, Population
from cdp_dev.synthetic.pos import Product
from cdp_dev.synthetic.settings import LOCALES, GeneratorSettings
from schemas.landing import WEB

# The landing contract (CONTRACTS.md section 1) is defined once, in schemas/landing.py.
WEB_FIELDS = WEB.columns

SHOP = "https://shop.example.com"
# JSON string literal of a str, UTF-8 kept as is (what json.dumps(ensure_ascii=False) uses).
_STR = encode_basestring

_BROWSER_AGENTS = {
    "desktop": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/129.0.0.0 Safari/537.36 Edg/129.0.0.0",
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/18.1 Safari/605.1.15",
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:132.0) Gecko/20100101 Firefox/132.0",
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Safari/537.36",
    ),
    "mobile": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
        "Mozilla/5.0 (Linux; Android 14; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/130.0.0.0 Mobile Safari/537.36",
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-A536B) AppleWebKit/537.36 (KHTML, like "
        "Gecko) SamsungBrowser/26.0 Chrome/122.0.0.0 Mobile Safari/537.36",
    ),
    "tablet": (
        "Mozilla/5.0 (iPad; CPU OS 17_7 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.7 Mobile/15E148 Safari/604.1",
    ),
}
_APP_AGENTS = (
    ("ios", "ShopApp/5.3.1 (iPhone; iOS 18.1; Scale/3.00)"),
    ("ios", "ShopApp/5.2.0 (iPhone; iOS 17.6.1; Scale/3.00)"),
    ("android", "ShopApp/5.3.0 (Android 14; SM-S921B)"),
    ("android", "ShopApp/5.1.2 (Android 13; Pixel 7)"),
)
_PAGES = (
    "",
    "sale",
    "new",
    "stores",
    "account",
    "help/returns",
    "gift-cards",
    "search?q=jacket",
    "search?q=sneakers",
    "c/home",
    "c/beauty",
    "c/apparel",
)
_UTM = (
    "utm_source=newsletter&utm_medium=email",
    "utm_source=google&utm_medium=cpc",
    "utm_source=facebook&utm_medium=social",
    "gclid=Cj0KCQiA",
)
# Hour-of-day weights (UTC) for session starts: lunch and evening peaks.
_HOUR = Weighted(
    range(24), (1, 1, 1, 1, 1, 2, 4, 6, 7, 7, 8, 9, 10, 9, 8, 8, 9, 11, 13, 14, 12, 9, 5, 2)
)


@dataclass(eq=False)
class _Browser:
    """A browser on one device; its cookie is replaced each time it is cleared."""

    kind: str
    user_agent: str
    clears: list[int]
    cookies: dict[int, str] = field(default_factory=dict)

    def epoch(self, day: int) -> int:
        return sum(1 for c in self.clears if c <= day)


@dataclass(eq=False)
class _Profile:
    browsers: list[_Browser]
    shared: _Browser | None
    apps: list[tuple[int, str, str]]  # (installed from day, device_id, user agent)
    app_logged_in: bool
    remembered: set[str] = field(default_factory=set)  # cookies that keep this user logged in


class WebTracker:
    """Schedules sessions per person and renders each day's events as JSON lines."""

    def __init__(
        self,
        streams: Streams,
        settings: GeneratorSettings,
        calendar: Calendar,
        population: Population,
        crm: CrmSystem,
        catalogue: list[Product],
        store_visits: dict[int, list[int]] | None = None,
    ):
        self.rng = streams.py("web")
        self._research_rng = streams.np("web-research")
        self._store_visits = store_visits or {}
        self.noise = Noise(streams.py("web-noise"), settings.noise, settings.noise_level)
        self.np_rng = streams.np("web-schedule")
        self._lapse = lapse_days(
            streams, len(population.persons), calendar.days, settings.lapse_share
        )
        self.settings = settings
        self.calendar = calendar
        self.population = population
        self.crm = crm
        self.catalogue = catalogue
        self._profiles: dict[int, _Profile] = {}
        self._shared: dict[str, _Browser | None] = {}
        self._orders = 10_000_000
        self._mobile_ips = {
            spec.country: [
                f"{self.rng.choice((37, 46, 90, 176, 213))}.{self.rng.randint(0, 255)}."
                f"{self.rng.randint(0, 255)}.{self.rng.randint(1, 254)}"
                for _ in range(40)
            ]
            for spec in LOCALES.values()
        }
        self._sessions = self._schedule_sessions()
        self._signups: dict[int, list[Signup]] = {}
        for signup in crm.signups:
            self._signups.setdefault(signup.day, []).append(signup)

    def _schedule_sessions(self) -> dict[int, list[int]]:
        rng = self.np_rng
        days = self.calendar.days
        n = len(self.population.persons)
        active = rng.random(n) < self.settings.web_active_share
        rate = rng.gamma(1.2, self.settings.sessions_per_year / 1.2, size=n) * active
        counts = rng.poisson(rate * days / 365.0)
        person_idx = np.repeat(np.arange(n), counts)
        day_idx = rng.integers(0, days, size=person_idx.size)
        # Lapsed customers stop after their lapse day (cdp_dev/synthetic/common.py).
        kept = day_idx <= self._lapse[person_idx]
        person_idx, day_idx = person_idx[kept], day_idx[kept]
        # People look before they buy: a share of store visits follows a browsing session a
        # few days earlier (so recent browsing says who is about to buy).
        research = self._research_rng
        r_person, r_day = [], []
        for d, visitors in sorted(self._store_visits.items()):
            for p in visitors:
                if active[p] and research.random() < self.settings.research_share:
                    before = d - int(research.integers(1, self.settings.research_max_days + 1))
                    if before >= 0:
                        r_person.append(p)
                        r_day.append(before)
        person_idx = np.concatenate([person_idx, np.array(r_person, dtype=person_idx.dtype)])
        day_idx = np.concatenate([day_idx, np.array(r_day, dtype=day_idx.dtype)])
        order = np.lexsort((person_idx, day_idx))
        sessions: dict[int, list[int]] = {}
        for d, p in zip(day_idx[order].tolist(), person_idx[order].tolist(), strict=True):
            sessions.setdefault(d, []).append(p)
        return sessions

    # -- per-person devices --------------------------------------------------------------
    def _profile(self, person: Person) -> _Profile:
        profile = self._profiles.get(person.index)
        if profile is not None:
            return profile
        rng = self.rng
        s = self.settings
        days = self.calendar.days
        kinds = ["desktop" if rng.random() < 0.5 else "mobile"]
        if rng.random() < 0.45:
            kinds.append("mobile" if kinds[0] == "desktop" else "desktop")
        browsers = [
            _Browser(k, rng.choice(_BROWSER_AGENTS[k]), poisson_days(rng, 1.0, days)) for k in kinds
        ]
        shared = None
        hh = person.household
        if len(hh.members) > 1:
            # The household's tablet or family computer: one cookie, several people.
            if hh.household_id not in self._shared:
                tablet = _Browser("tablet", _BROWSER_AGENTS["tablet"][0], [])
                self._shared[hh.household_id] = (
                    tablet if rng.random() < s.shared_device_share else None
                )
            if rng.random() < 0.7:
                shared = self._shared[hh.household_id]
        apps: list[tuple[int, str, str]] = []
        if rng.random() < s.app_user_share:
            apps.append((-(10**6), *self._app_device()))
            if days > 1 and rng.random() < 0.15:  # new phone during the period
                apps.append((rng.randint(1, days - 1), *self._app_device()))
        profile = _Profile(browsers, shared, apps, app_logged_in=rng.random() < 0.85)
        self._profiles[person.index] = profile
        return profile

    def _app_device(self) -> tuple[str, str]:
        platform, agent = self.rng.choice(_APP_AGENTS)
        if platform == "ios":
            return uuid4_text(self.rng).upper(), agent
        return f"{self.rng.getrandbits(64):016x}", agent

    def _cookie(self, browser: _Browser, day: int) -> str:
        epoch = browser.epoch(day)
        cookie = browser.cookies.get(epoch)
        if cookie is None:
            cookie = uuid4_text(self.rng)
            browser.cookies[epoch] = cookie
        return cookie

    # -- one day -------------------------------------------------------------------------
    def day(self, day: int) -> tuple[list[str], list[tuple[str, str]]]:
        """JSON lines of ``day`` (ordered by time) and (event_id, person_id) truth pairs."""
        persons = self.population.persons
        events: list[tuple[str, str, str, str]] = []  # (ts, event_id, json, person_id)
        for signup in self._signups.get(day, ()):
            self._session(signup.person, day, events, signup=signup)
        for index in self._sessions.get(day, ()):
            self._session(persons[index], day, events)
        events.sort()
        return [e[2] for e in events], [(e[1], e[3]) for e in events]

    def _session(
        self,
        person: Person,
        day: int,
        out: list[tuple[str, str, str, str]],
        signup: Signup | None = None,
    ) -> None:
        rng = self.rng
        rnd = rng.random
        profile = self._profile(person)
        shop_currency = LOCALES[person.locale].currency
        cc = person.country.lower()
        if signup is not None:
            start = max(0, signup.second - rng.randint(60, 900))
        else:
            hour = _HOUR.pick(rng)
            start = hour * 3600 + rng.randint(0, 3599)
        apps = [a for a in profile.apps if a[0] <= day]
        use_app = bool(apps) and signup is None and rng.random() < 0.55
        if use_app:
            _, device_id, agent = apps[-1]
            anonymous_id = None
            channel = "app"
            ip = rng.choice(self._mobile_ips[person.country]) if rng.random() < 0.7 else None
            user = self.crm.login_id(person, day, start) if profile.app_logged_in else ""
        else:
            browser = profile.browsers[0] if len(profile.browsers) == 1 else None
            if profile.shared is not None and rng.random() < 0.3:
                browser = profile.shared
            elif browser is None:
                browser = rng.choice(profile.browsers)
            anonymous_id = self._cookie(browser, day)
            device_id = None
            agent = browser.user_agent
            channel = "web"
            mobile_net = browser.kind == "mobile" and rng.random() < 0.5
            ip = rng.choice(self._mobile_ips[person.country]) if mobile_net else None
            user = ""
            if anonymous_id in profile.remembered:
                user = self.crm.login_id(person, day, start)
        if ip is None:
            ip = person.household.home_ip

        t = start
        cart: list[Product] = []

        # Events are rendered straight to JSON text: the parts that stay fixed for the session
        # are encoded once, which is three times faster than json.dumps per event.
        prefix = f"{self.calendar.date(day).isoformat()}T"
        middle = f'","channel":"{channel}","event_type":"'
        ids = f',"anonymous_id":{_STR(anonymous_id)}' if anonymous_id else ""
        ids += f',"device_id":{_STR(device_id)}' if device_id else ""
        tail = f',"ip":{_STR(ip)},"user_agent":{_STR(agent)}}}'

        def emit(
            event_type: str,
            email: str | None = None,
            page_url: str | None = None,
            sku: str | None = None,
            order_id: str | None = None,
            revenue: float | None = None,
            currency: str | None = None,
        ) -> None:
            nonlocal t
            if t > 86399:
                return  # the rest of a session that runs past midnight is not in this batch
            event_id = uuid4_text(rng)
            hh_, rest = divmod(t, 3600)
            ts = f"{prefix}{hh_:02d}:{rest // 60:02d}:{rest % 60:02d}.{int(rnd() * 1000):03d}Z"
            # Keys in contract order; fields that do not apply are left out.
            parts = ['{"event_id":"', event_id, '","event_ts":"', ts, middle, event_type, '"', ids]
            if user:
                parts.append(f',"user_id":{_STR(user)}')
            if email:
                parts.append(f',"email":{_STR(email)}')
            if page_url:
                parts.append(f',"page_url":{_STR(page_url)}')
            if sku:
                parts.append(f',"sku":{_STR(sku)}')
            if order_id:
                parts.append(f',"order_id":{_STR(order_id)}')
            if revenue is not None:
                parts.append(f',"revenue":{revenue!r}')
            if currency:
                parts.append(f',"currency":{_STR(currency)}')
            parts.append(tail)
            out.append((ts, event_id, "".join(parts), person.person_id))
            t += 4 + int(rnd() * 117)  # whole seconds apart, so file order keeps click order

        def url(path: str) -> str | None:
            return None if use_app else f"{SHOP}/{cc}/{path}"

        def login(typed_email: bool) -> None:
            nonlocal user
            account = self.crm.login_id(person, day, t)
            if not account:
                return
            user = account
            email = self._typed(person, day) if typed_email else None
            emit("login", email=email, page_url=url("account/login"))
            if anonymous_id and rng.random() < 0.6:
                profile.remembered.add(anonymous_id)

        # Landing.
        if use_app:
            emit("push_open" if rng.random() < 0.25 else "app_open")
        else:
            landing = rng.choice(_PAGES)
            if rng.random() < 0.25:
                landing += ("&" if "?" in landing else "?") + rng.choice(_UTM)
            emit("page_view", page_url=url(landing))
        if signup is not None:
            for _ in range(rng.randint(0, 2)):
                emit("page_view", page_url=url(rng.choice(_PAGES)))
            t = max(t, signup.second)
            user = signup.crm_id
            email = self.noise.email(person.email_at(day), allow_missing=False)
            emit("signup", email=email.strip(), page_url=url("account/register"))
            profile.remembered.add(anonymous_id or "")
        elif not user and not use_app and rng.random() < 0.2:
            login(typed_email=rng.random() < 0.4)

        # Geometric number of further clicks (mean about 3.3), drawn by inversion.
        n_more = int(math.log(1.0 - rng.random()) / math.log(0.7))
        for _ in range(min(n_more, 25)):
            roll = rng.random()
            if roll < 0.45:
                product = self._product()
                emit("product_view", page_url=url(f"p/{product.sku}"), sku=product.sku)
                if rng.random() < 0.25:
                    cart.append(product)
                    emit("add_to_cart", page_url=url(f"p/{product.sku}"), sku=product.sku)
            elif roll < 0.85:
                emit("page_view", page_url=url(rng.choice(_PAGES)))
            elif roll < 0.88 and not user:
                emit("newsletter_signup", email=self._typed(person, day), page_url=url(""))
            elif cart:
                break
        if cart and rng.random() < 0.4:
            if not user and rng.random() < 0.6:
                login(typed_email=rng.random() < 0.4)
            self._orders += 1
            revenue = round(sum(p.prices[shop_currency] for p in cart), 2)
            emit(
                "purchase",
                email=None if user else self._typed(person, day),
                page_url=url("checkout/confirmation"),
                order_id=f"W{self._orders}",
                revenue=revenue,
                currency=shop_currency,
            )

    def _typed(self, person: Person, day: int) -> str:
        """An email typed into a form: mostly the person's own, sometimes junk."""
        if self.rng.random() < self.settings.junk_form_email_rate * self.settings.noise_level:
            return self.rng.choice(JUNK_EMAILS)
        hh = person.household
        source = person.email_at(day)
        if hh.family_email and self.rng.random() < 0.15:
            source = hh.family_email
        return self.noise.email(source, allow_missing=False).strip()

    def _product(self) -> Product:
        return self.rng.choice(self.catalogue)
