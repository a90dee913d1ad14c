"""Stores, the product catalogue and point-of-sale receipts.

Receipt lines carry whatever the till captured: the loyalty card if one was swiped (the
customer's own, a household member's, or the store's default card the cashier keeps for
walk-ins), the payment card token unless paid in cash. Returns are negative lines, usually on
a later receipt, sometimes in another store.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import numpy as np

from cdp_dev.synthetic.common import Calendar, Streams, Weighted, lapse_days
from cdp_dev.synthetic.loyalty import LoyaltyProgram
from cdp_dev.synthetic.population import Person, Population
from cdp_dev.synthetic.settings import EUR_RATES, LOCALES, GeneratorSettings
from schemas.landing import POS

# The landing contract (CONTRACTS.md section 1) is defined once, in schemas/landing.py.
POS_COLUMNS = POS.columns

# category -> (nouns, adjectives, price range in EUR)
_CATALOGUE_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[float, float]]] = {
    "Apparel": (
        ("T-Shirt", "Hoodie", "Jeans", "Jacket", "Sweater", "Dress", "Shirt", "Chinos"),
        ("Organic Cotton", "Merino", "Slim Fit", "Relaxed", "Linen", "Recycled"),
        (12, 120),
    ),
    "Footwear": (
        ("Sneakers", "Boots", "Sandals", "Loafers", "Running Shoes", "Slippers"),
        ("Leather", "Waterproof", "Lightweight", "Classic", "Trail"),
        (25, 160),
    ),
    "Home": (
        ("Candle", "Cushion Cover", "Throw", "Mug Set", "Vase", "Towel Set", "Lamp"),
        ("Scented", "Nordic", "Stoneware", "Linen", "Minimal", "Handmade"),
        (5, 90),
    ),
    "Beauty": (
        ("Shampoo", "Face Cream", "Lip Balm", "Body Lotion", "Perfume", "Mascara"),
        ("Hydrating", "Sensitive", "Vegan", "Daily", "Night"),
        (3, 70),
    ),
    "Grocery": (
        ("Coffee Beans", "Dark Chocolate", "Crispbread", "Tea", "Granola", "Olive Oil"),
        ("Organic", "Fair Trade", "Roasted", "Classic", "Family Pack"),
        (2, 18),
    ),
    "Electronics": (
        ("Headphones", "Power Bank", "Charger", "Speaker", "Smartwatch Strap", "Cable"),
        ("Wireless", "Fast", "Compact", "Noise Cancelling", "USB-C"),
        (9, 220),
    ),
    "Sports": (
        ("Yoga Mat", "Water Bottle", "Training Tights", "Gym Bag", "Cap", "Socks 3-pack"),
        ("Pro", "Insulated", "Breathable", "Everyday", "Reflective"),
        (6, 80),
    ),
    "Toys": (
        ("Puzzle", "Building Set", "Plush Bear", "Board Game", "Wooden Train"),
        ("Classic", "Deluxe", "Mini", "Family"),
        (8, 70),
    ),
}


_LINES = Weighted((1, 2, 3, 4, 5), (0.35, 0.28, 0.18, 0.11, 0.08))
_QUANTITY = Weighted((1, 2, 3), (0.82, 0.14, 0.04))


@dataclass(frozen=True)
class Product:
    """One catalogue item; prices are per currency, already rounded the way shops do."""

    sku: str
    name: str
    category: str
    price_eur: float
    prices: dict[str, float]


@dataclass(frozen=True)
class Store:
    """One physical store and the default loyalty card kept at its till."""

    store_id: str
    country: str
    currency: str
    default_card: str
    default_card_rate: float  # share of card-less customers the cashier swipes it for


def _shop_price(eur: float, currency: str) -> float:
    # Psychological pricing: 199 kr, 19.99 EUR, 24.95 GBP.
    value = eur * EUR_RATES[currency]
    if currency in ("SEK", "NOK", "DKK"):
        return float(max(9, int(math.ceil(value / 10.0) * 10 - 1)))
    return max(0.99, math.floor(value) + (0.95 if value % 1 > 0.5 else 0.99))


def build_catalogue(rng: random.Random, size: int = 400) -> list[Product]:
    """A catalogue of ``size`` products spread over the categories above."""
    products = []
    categories = list(_CATALOGUE_PARTS)
    seen: set[str] = set()
    for i in range(size):
        category = categories[i % len(categories)]
        nouns, adjectives, (low, high) = _CATALOGUE_PARTS[category]
        for _ in range(10):
            name = f"{rng.choice(adjectives)} {rng.choice(nouns)}"
            if name not in seen:
                break
            name = f"{name} {rng.choice(['Black', 'White', 'Navy', 'Grey', 'Green', 'Red'])}"
        seen.add(name)
        eur = round(math.exp(rng.uniform(math.log(low), math.log(high))), 2)
        prices = {c: _shop_price(eur, c) for c in EUR_RATES}
        products.append(Product(f"SKU-{100000 + i * 7:06d}", name, category, eur, prices))
    return products


@dataclass
class _Receipt:
    person: Person
    store: Store
    loyalty_id: str
    card_token: str
    lines: list[tuple[Product, int]]


class PointOfSale:
    """Schedules each person's store visits and renders each day's receipt lines."""

    columns = POS_COLUMNS

    def __init__(
        self,
        streams: Streams,
        settings: GeneratorSettings,
        calendar: Calendar,
        population: Population,
        loyalty: LoyaltyProgram,
        catalogue: list[Product],
    ):
        self.rng = streams.py("pos")
        self.np_rng = streams.np("pos-schedule")
        self._lapse = lapse_days(
            streams, len(population.persons), calendar.days, settings.lapse_share
        )
        self.settings = settings
        self.calendar = calendar
        self.population = population
        self.loyalty = loyalty
        self.catalogue = catalogue
        # Popular products sell more: Zipf-like weights over a shuffled catalogue.
        weights = 1.0 / np.arange(1, len(catalogue) + 1) ** 0.8
        self.np_rng.shuffle(weights)
        self._products = Weighted(catalogue, weights.tolist())
        self.stores = self._build_stores()
        self.home_store = {
            p.index: self.rng.choice(self.stores_in[p.country]) for p in population.persons
        }
        self._visits = self._schedule_visits()
        self._returns: dict[int, list[_Receipt]] = {}
        self._seq: dict[tuple[str, int], int] = {}

    @property
    def store_visits(self) -> dict[int, list[int]]:
        """Day -> person indexes visiting a store that day (one entry per receipt)."""
        return self._visits

    def _build_stores(self) -> list[Store]:
        counts: dict[str, int] = {}
        for p in self.population.persons:
            counts[p.country] = counts.get(p.country, 0) + 1
        stores: list[Store] = []
        self.stores_in: dict[str, list[Store]] = {}
        for spec in LOCALES.values():
            if spec.country not in counts:
                continue
            n = max(1, round(counts[spec.country] / self.settings.persons_per_store))
            for k in range(1, n + 1):
                # Swiping the store's own card is a habit of some stores' staff, not a
                # random act: it concentrates in a few stores, starting with the flagship.
                habit = 2.5 if k == 1 else self.rng.choice((0.2, 0.5, 1.0, 2.5))
                store = Store(
                    store_id=f"{spec.country}{k:03d}",
                    country=spec.country,
                    currency=spec.currency,
                    default_card=self.loyalty.ids.digits("6", 9),
                    default_card_rate=min(1.0, self.settings.store_card_rate * habit),
                )
                stores.append(store)
                self.stores_in.setdefault(spec.country, []).append(store)
        return stores

    def _schedule_visits(self) -> dict[int, list[int]]:
        """Day -> person indexes visiting a store that day (one entry per receipt)."""
        rng = self.np_rng
        days = self.calendar.days
        n = len(self.population.persons)
        mean = self.settings.receipts_per_year
        # Gamma-distributed shopping frequency: many occasional shoppers, a few regulars.
        rate = rng.gamma(1.3, mean / 1.3, size=n)
        counts = rng.poisson(rate * days / 365.0)
        weekday = np.array([0.8, 0.8, 0.9, 1.0, 1.3, 1.6, 0.6])
        dows = np.array([self.calendar.date(d).weekday() for d in range(days)])
        p_day = weekday[dows] / weekday[dows].sum()
        person_idx = np.repeat(np.arange(n), counts)
        day_idx = rng.choice(days, size=person_idx.size, p=p_day)
        # Lapsed customers stop after their lapse day (cdp_dev/synthetic/common.py).
        kept = day_idx <= self._lapse[person_idx]
        person_idx, day_idx = person_idx[kept], day_idx[kept]
        order = np.lexsort((person_idx, day_idx))
        visits: dict[int, list[int]] = {}
        for d, p in zip(day_idx[order].tolist(), person_idx[order].tolist(), strict=True):
            visits.setdefault(d, []).append(p)
        return visits

    # -- one day -------------------------------------------------------------------------
    def day(self, day: int) -> tuple[list[list[str]], list[tuple[str, str]]]:
        """Receipt lines of ``day`` and (transaction_id, person_id) truth pairs."""
        rng = self.rng
        s = self.settings
        persons = self.population.persons
        receipts: list[tuple[int, _Receipt]] = []
        for index in self._visits.get(day, ()):
            person = persons[index]
            receipt = self._purchase(person, day)
            receipts.append((rng.randint(8 * 3600, 21 * 3600), receipt))
            if rng.random() < s.return_rate:
                self._plan_return(receipt, day)
        for receipt in self._returns.pop(day, ()):
            receipts.append((rng.randint(9 * 3600, 20 * 3600), receipt))
        receipts.sort(key=lambda item: (item[1].store.store_id, item[0]))
        rows: list[list[str]] = []
        truth: list[tuple[str, str]] = []
        stamp = self.calendar.date(day).strftime("%Y%m%d")
        for second, receipt in receipts:
            key = (receipt.store.store_id, day)
            self._seq[key] = self._seq.get(key, 0) + 1
            txn = f"{receipt.store.store_id}-{stamp}-{self._seq[key]:05d}"
            ts = self.calendar.ts(day, second, zulu=False)  # store-local wall clock
            currency = receipt.store.currency
            total = 0.0
            for line_no, (product, qty) in enumerate(receipt.lines, start=1):
                price = product.prices[currency]
                total += price * qty
                rows.append(
                    [
                        txn,
                        str(line_no),
                        receipt.store.store_id,
                        ts,
                        receipt.loyalty_id,
                        receipt.card_token,
                        product.sku,
                        product.name,
                        product.category,
                        str(qty),
                        f"{price:.2f}",
                        currency,
                    ]
                )
            truth.append((txn, receipt.person.person_id))
            card = self._member_card(receipt.loyalty_id, receipt.person, day)
            if card is not None:
                self.loyalty.earn(card, day, second, total / EUR_RATES[currency])
        return rows, truth

    def _member_card(self, loyalty_id: str, person: Person, day: int):
        if not loyalty_id:
            return None
        for member in person.household.members:
            card = self.loyalty.active_card(member, day)
            if card is not None and card.key == loyalty_id:
                return card
        return None

    def _purchase(self, person: Person, day: int) -> _Receipt:
        rng = self.rng
        s = self.settings
        roll = rng.random()
        if roll < 0.85:
            store = self.home_store[person.index]
        elif roll < 0.99 or len(self.stores) == 1:
            store = rng.choice(self.stores_in[person.country])
        else:
            store = rng.choice(self.stores)  # travelling
        loyalty_id = ""
        own = self.loyalty.active_card(person, day)
        if own is not None:
            if rng.random() < s.loyalty_swipe_share:
                loyalty_id = own.key
        else:
            family = [
                c
                for m in person.household.members
                if m is not person and (c := self.loyalty.active_card(m, day)) is not None
            ]
            if family and rng.random() < s.household_card_share:
                loyalty_id = family[0].key
            elif rng.random() < store.default_card_rate:
                loyalty_id = store.default_card
        card_token = ""
        if person.card_tokens and rng.random() >= s.cash_share:
            tokens = person.card_tokens
            card_token = tokens[0] if len(tokens) == 1 or rng.random() < 0.7 else rng.choice(tokens)
        n_lines = _LINES.pick(rng)
        lines = []
        for _ in range(n_lines):
            product = self._product()
            qty = _QUANTITY.pick(rng)
            lines.append((product, qty))
        if rng.random() < s.exchange_line_rate:
            lines.append((self._product(), -1))  # an exchange: returned item on the same receipt
        return _Receipt(person, store, loyalty_id, card_token, lines)

    def _product(self) -> Product:
        return self._products.pick(self.rng)

    def _plan_return(self, receipt: _Receipt, day: int) -> None:
        rng = self.rng
        back = day + rng.choice((1, 1, 2, 3, 5, 7, 10, 14, 21, 28))
        if back >= self.calendar.days:
            return
        returned = [(p, -min(q, 1 if rng.random() < 0.7 else q)) for p, q in receipt.lines if q > 0]
        returned = rng.sample(returned, k=max(1, len(returned) // 2))
        store = receipt.store
        if rng.random() < 0.25:
            store = rng.choice(self.stores_in[store.country])
        token = receipt.card_token if rng.random() < 0.8 else ""
        loyalty_id = receipt.loyalty_id if store is receipt.store else ""
        if receipt.loyalty_id == receipt.store.default_card:
            loyalty_id = ""
        ret = _Receipt(receipt.person, store, loyalty_id, token, returned)
        self._returns.setdefault(back, []).append(ret)
