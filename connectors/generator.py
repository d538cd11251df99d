"""``ascolto connect generator``: synthetic Italian and English posts about brands and public services.

For demos, tests and benchmarks. Seeded, so a run can be repeated exactly (and a repeated run
yields the same post ids, which the index de-duplicates). A burst of negative posts about one
brand can be injected: the spike the demo shows.

With ``backdate`` the posts are stamped across the past instead of now: post n of ``count`` is
created at ``now - backdate + n * backdate / count``, so a run of seconds is minutes or hours of
event time (what the alert detector needs to learn a baseline), and the burst's posts share the
time of the post they come after, a millisecond apart.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from connectors.base import Pacer, Rejected, Source
from schemas import RawPost, raw_post

DEFAULT_BRANDS = ("ACME Energia", "Comune di Vallebella", "TrasportiCity", "Banca Aurora", "Sanità Digitale")

# Subjects people complain about or praise, per language: (topic, phrase).
SUBJECTS = {
    "it": [
        ("billing", "la bolletta"),
        ("billing", "l'addebito sul conto"),
        ("billing", "il rimborso"),
        ("outage", "il servizio"),
        ("outage", "la rete"),
        ("outage", "il sito"),
        ("waiting", "l'attesa allo sportello"),
        ("waiting", "il call center"),
        ("waiting", "la pratica"),
        ("staff", "il personale"),
        ("staff", "l'operatore"),
        ("digital", "l'app"),
        ("digital", "l'accesso con SPID"),
        ("digital", "il portale"),
        ("transport", "il treno delle 8"),
        ("transport", "l'autobus"),
        ("health", "la prenotazione della visita"),
    ],
    "en": [
        ("billing", "the bill"),
        ("billing", "the refund"),
        ("billing", "the direct debit"),
        ("outage", "the service"),
        ("outage", "the network"),
        ("outage", "the website"),
        ("waiting", "the queue at the office"),
        ("waiting", "the helpline"),
        ("staff", "the staff"),
        ("staff", "the agent on the phone"),
        ("digital", "the app"),
        ("digital", "the online portal"),
        ("digital", "the login"),
        ("transport", "the 8am train"),
        ("transport", "the bus"),
        ("health", "the appointment booking"),
    ],
}

TEMPLATES = {
    ("it", "negative"): [
        "{brand} {subject} non funziona da tre giorni, che vergogna!",
        "Ennesimo disservizio: {subject} di {brand} è un disastro",
        "Attesa infinita per {subject}, {brand} non risponde mai. Pessimo",
        "Sono furioso con {brand}: {subject} è sbagliato e nessuno mi aiuta",
        "{brand} ma come è possibile? {subject} bloccato di nuovo, scandaloso",
        "Ho perso la mattinata per {subject}. {brand} inefficiente e lento",
        "Basta con {brand}!!! {subject} è una truffa, voglio il rimborso",
        "Pessima esperienza con {subject} di {brand}, mai più",
    ],
    ("it", "neutral"): [
        "Qualcuno sa se {subject} di {brand} cambia da lunedì?",
        "{brand} ha pubblicato gli orari per {subject}",
        "Oggi ho chiamato {brand} per {subject}",
        "Domani vado da {brand} per {subject}",
        "Info: {subject} di {brand} è disponibile anche il sabato",
    ],
    ("it", "positive"): [
        "Grazie mille a {brand}, {subject} risolto in dieci minuti!",
        "Complimenti a {brand}: {subject} finalmente funziona benissimo",
        "{subject} di {brand} è davvero comodo, personale gentilissimo",
        "Devo dire che {brand} è stata efficiente e veloce con {subject}",
        "Ottimo lavoro {brand}, {subject} è migliorato tantissimo",
    ],
    ("en", "negative"): [
        "{brand} {subject} has been down for three days, this is terrible!",
        "Another outage: {subject} from {brand} is a complete disaster",
        "Waiting forever for {subject}, {brand} never answers. Awful service",
        "So angry with {brand}: {subject} is wrong and nobody helps",
        "Worst experience ever with {subject} at {brand}, never again",
        "{brand} overcharged me again, {subject} is a scam",
    ],
    ("en", "neutral"): [
        "Does anyone know if {subject} at {brand} changes on Monday?",
        "{brand} published the new hours for {subject}",
        "Called {brand} today about {subject}",
        "Going to {brand} tomorrow for {subject}",
    ],
    ("en", "positive"): [
        "Thanks {brand}, {subject} fixed in ten minutes, great job!",
        "Kudos to {brand}: {subject} finally works perfectly",
        "{subject} at {brand} is really convenient, friendly staff",
        "Impressed by how fast {brand} sorted out {subject}, excellent",
    ],
}

HASHTAGS = {
    "negative": ["#disservizio", "#vergogna", "#fail", "#outage"],
    "positive": ["#grazie", "#thanks", "#ottimoservizio"],
    "neutral": ["#info", "#news"],
}
HANDLES = [
    f"{a}{b}"
    for a in ("luca", "giulia", "marco", "sara", "anna", "paolo", "kate", "tom")
    for b in ("_rm", "88", "_mi", "it", "_uk")
]


@dataclass(frozen=True)
class Burst:
    """A burst of negative posts about ``brand``, sent at once after ``after`` regular posts."""

    after: int
    size: int
    brand: str
    subject_topic: str = "outage"


@dataclass
class GeneratorSource(Source):
    """Endless (or ``count``-long) synthetic posts, paced at ``rate`` per second."""

    count: int | None = None
    rate: float | None = None
    brands: Sequence[str] = DEFAULT_BRANDS
    italian_share: float = 0.7
    negative_share: float = 0.35
    seed: int | None = None
    burst: Burst | None = None
    #: Spread the ``count`` posts over this much of the past, ending now (needs ``count``).
    backdate: timedelta | None = None
    run_id: str = field(init=False)
    name: str = field(default="generator", init=False)

    def __post_init__(self) -> None:
        if self.seed is None:
            self.seed = random.SystemRandom().randrange(1 << 30)
        # Same seed → same ids, so a repeated run replays instead of adding posts.
        self.run_id = f"s{self.seed}"
        self._rng = random.Random(self.seed)
        if self.backdate is not None:
            if self.count is None:
                raise ValueError("backdating spreads a known number of posts: give a count with it")
            if self.backdate <= timedelta(0):
                raise ValueError("backdate must be longer than zero")

    def estimated_total(self) -> int | None:
        if self.count is None:
            return None
        return self.count + (self.burst.size if self.burst else 0)

    def __iter__(self) -> Iterator[RawPost | Rejected]:
        pacer = Pacer(self.rate)
        start = datetime.now(UTC) - self.backdate if self.backdate is not None else None
        n = 0
        while self.count is None or n < self.count:
            if self.burst and n == self.burst.after:
                # Burst posts skip pacing: that is what makes them a spike. Backdated, they share the
                # time of the post before them: the spike is in event time too.
                at = self._created_at(start, max(n - 1, 0))
                for b in range(self.burst.size):
                    yield self.post(
                        f"burst-{b}",
                        sentiment="negative",
                        brand=self.burst.brand,
                        topic=self.burst.subject_topic,
                        created_at=None if at is None else at + timedelta(milliseconds=b + 1),
                    )
            pacer.wait()
            yield self.post(str(n), created_at=self._created_at(start, n))
            n += 1

    def _created_at(self, start: datetime | None, n: int) -> datetime | None:
        if start is None or self.backdate is None or not self.count:
            return None
        return start + n * self.backdate / self.count

    def post(
        self,
        suffix: str,
        *,
        sentiment: str | None = None,
        brand: str | None = None,
        topic: str | None = None,
        created_at: datetime | None = None,
    ) -> RawPost:
        """One synthetic post; the choices not given are drawn from the seeded generator."""
        rng = self._rng
        lang = "it" if rng.random() < self.italian_share else "en"
        if sentiment is None:
            roll = rng.random()
            rest = (1 - self.negative_share) / 2
            sentiment = (
                "negative"
                if roll < self.negative_share
                else ("neutral" if roll < self.negative_share + rest else "positive")
            )
        brand = brand or rng.choice(list(self.brands))
        subjects = [s for s in SUBJECTS[lang] if topic is None or s[0] == topic] or SUBJECTS[lang]
        _, subject = rng.choice(subjects)
        text = rng.choice(TEMPLATES[(lang, sentiment)]).format(brand=brand, subject=subject)
        text = text[0].upper() + text[1:]
        if rng.random() < 0.3:
            text += " " + rng.choice(HASHTAGS[sentiment])
        if rng.random() < 0.25:
            text = f"@{_handle(brand)} {text}"
        return raw_post(
            source=self.name,
            native_id=f"{self.run_id}-{suffix}",
            text=text,
            handle=rng.choice(HANDLES),
            followers=rng.randrange(10, 5000),
            lang_hint=lang,
            created_at=None if created_at is None else created_at.isoformat(timespec="milliseconds"),
            metrics={"likes": rng.randrange(0, 50), "reposts": rng.randrange(0, 10), "replies": rng.randrange(0, 5)},
        )


def _handle(brand: str) -> str:
    return re.sub(r"\W+", "", brand.lower())
