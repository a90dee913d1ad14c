"""Writing the landing zone (``<out>/<source>/<batch_date>/``) and ``<out>/_truth/``."""

from __future__ import annotations

import csv
import json
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from pathlib import Path

from cdp_dev.synthetic.common import Streams
from cdp_dev.synthetic.population import BEFORE_TIME, Population

SOURCES = ("crm", "loyalty", "pos", "web")
TRUTH_DIR = "_truth"


class LandingWriter:
    """Writes one day's extract of one source, sometimes split into two files."""

    def __init__(self, root: Path, streams: Streams, split_rate: float):
        self.root = root
        self.streams = streams
        self._rngs: dict[str, random.Random] = {}
        self.split_rate = split_rate
        self.files = 0
        self.bytes: Counter[str] = Counter()
        self.rows: Counter[str] = Counter()

    def _parts(self, source: str, items: Sequence, group: int | None) -> list[Sequence]:
        # Source systems sometimes deliver a day in two chunks; never split one receipt.
        # One stream per source, so sources can be written by different processes.
        rng = self._rngs.get(source)
        if rng is None:
            rng = self._rngs[source] = self.streams.py(f"files:{source}")
        if rng.random() >= self.split_rate or len(items) < 2:
            return [items]
        cut = rng.randint(1, len(items) - 1)
        if group is not None:
            while cut < len(items) and items[cut][group] == items[cut - 1][group]:
                cut += 1
            if cut == len(items):
                return [items]
        return [items[:cut], items[cut:]]

    def _path(self, source: str, day: date, stem: str, part: int, parts: int, ext: str) -> Path:
        folder = self.root / source / day.isoformat()
        folder.mkdir(parents=True, exist_ok=True)
        suffix = f"_part{part}" if parts > 1 else ""
        return folder / f"{stem}{suffix}.{ext}"

    def csv(
        self,
        source: str,
        day: date,
        stem: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        group: int | None = None,
    ) -> None:
        """CSV with a header row, comma separator and RFC 4180 quoting (CRLF line ends)."""
        parts = self._parts(source, rows, group)
        for i, part in enumerate(parts, start=1):
            path = self._path(source, day, stem, i, len(parts), "csv")
            with path.open("w", encoding="utf-8", newline="") as fh:
                writer = csv.writer(fh)
                writer.writerow(columns)
                writer.writerows(part)
            self._count(source, path)
        self.rows[source] += len(rows)

    def jsonl(self, source: str, day: date, stem: str, lines: Sequence[str]) -> None:
        """JSON Lines: one object per line, UTF-8, LF line ends."""
        parts = self._parts(source, lines, None)
        for i, part in enumerate(parts, start=1):
            path = self._path(source, day, stem, i, len(parts), "jsonl")
            with path.open("w", encoding="utf-8", newline="\n") as fh:
                for line in part:
                    fh.write(line)
                    fh.write("\n")
            self._count(source, path)
        self.rows[source] += len(lines)

    def _count(self, source: str, path: Path) -> None:
        self.files += 1
        self.bytes[source] += path.stat().st_size


PERSON_COLUMNS = (
    "person_id",
    "household_id",
    "first_name",
    "last_name",
    "gender",
    "birth_date",
    "email",
    "previous_emails",
    "family_email",
    "phone",
    "landline",
    "street",
    "postal_code",
    "city",
    "region",
    "country",
    "locale",
    "is_twin",
    "twin_person_id",
    "has_crm",
    "has_loyalty",
    "crm_loyalty_unlinked",
    "card_tokens",
)


class TruthWriter:
    """The answer key: who every person is and which person is behind every record."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._records_fh = (root / "records.csv").open("w", encoding="utf-8", newline="")
        self._records = csv.writer(self._records_fh)
        self._records.writerow(("source", "record_key", "person_id"))
        self.counts: Counter[str] = Counter()

    def records(self, source: str, pairs: Iterable[tuple[str, str]]) -> None:
        """Append (record_key, person_id) pairs of one source to records.csv."""
        n = 0
        for key, person_id in pairs:
            self._records.writerow((source, key, person_id))
            n += 1
        self.counts[source] += n

    def append(self, part: Path) -> None:
        """Append a records file written by another process, then delete it."""
        self._records_fh.flush()
        with part.open("r", encoding="utf-8", newline="") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), ""):
                self._records_fh.write(chunk)
        part.unlink()

    def persons(self, population: Population, last_day: int) -> None:
        """persons.csv (state at the end of the period) and addresses.csv (history)."""
        with (self.root / "persons.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(PERSON_COLUMNS)
            for p in population.persons:
                hh = p.household
                a = hh.address_at(last_day)
                w.writerow(
                    (
                        p.person_id,
                        hh.household_id,
                        p.first_name,
                        p.last_name,
                        p.gender,
                        p.birth_date.isoformat(),
                        p.emails[-1][1],
                        "|".join(e for _, e in p.emails[:-1]),
                        hh.family_email,
                        p.mobile,
                        hh.landline,
                        a.street,
                        a.postal_code,
                        a.city,
                        a.region,
                        a.country,
                        p.locale,
                        "true" if p.twin_person_id else "false",
                        p.twin_person_id,
                        str(p.has_crm).lower(),
                        str(p.has_loyalty).lower(),
                        str(p.crm_loyalty_unlinked).lower(),
                        "|".join(dict.fromkeys(p.card_tokens)),
                    )
                )

    def addresses(self, population: Population, start: date) -> None:
        """addresses.csv: one row per household address, valid_from blank = before records."""
        with (self.root / "addresses.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(
                ("household_id", "valid_from", "street", "postal_code", "city", "region", "country")
            )
            for hh in population.households:
                if not hh.members:
                    continue
                for since, a in hh.addresses:
                    valid = "" if since == BEFORE_TIME else (start + timedelta(days=since))
                    w.writerow(
                        (
                            hh.household_id,
                            str(valid),
                            a.street,
                            a.postal_code,
                            a.city,
                            a.region,
                            a.country,
                        )
                    )

    def corruptions(self, rows: Iterable[tuple[str, str, str, bool, list[str]]]) -> None:
        """corruptions.csv (heavy noise profile): what heavy_noise.py did to each CRM and
        loyalty record as created: source, record_key, person_id, is_duplicate and the
        ``field:kind`` labels joined by "|" (blank: typed only with the default noise)."""
        with (self.root / "corruptions.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("source", "record_key", "person_id", "is_duplicate", "corruptions"))
            for source, key, person_id, duplicate, labels in rows:
                w.writerow((source, key, person_id, str(duplicate).lower(), "|".join(labels)))

    def junk(self, rows: Iterable[tuple[str, str, str]]) -> None:
        """junk_identifiers.csv: identifiers shared by unrelated people (namespace, value, why)."""
        with (self.root / "junk_identifiers.csv").open("w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(("namespace", "identifier", "reason"))
            w.writerows(rows)

    def manifest(self, payload: dict) -> None:
        """manifest.json: the arguments, settings and counts of the run (no timings)."""
        text = json.dumps(payload, indent=2, sort_keys=True, ensure_ascii=False)
        (self.root / "manifest.json").write_text(text + "\n", encoding="utf-8")

    def close(self) -> None:
        """Flush and close records.csv."""
        self._records_fh.close()


def fold_initial_load(root: Path, first_day: date, days: int) -> date | None:
    """Deliver the first ``days`` days as one initial extract, as a new installation loads
    the history it inherits: per source, the files of those days are concatenated, oldest
    first, into one file in the folder of the last of them (CSV with one header row). The
    customer and member extracts hold each record's latest version only, as a source system's
    current state does (one batch may not repeat a key); receipts and events keep every row.
    Returns that batch date (None for 0 days)."""
    if days < 1:
        return None
    target = first_day + timedelta(days=days - 1)
    for source in SOURCES:
        files = [
            file
            for offset in range(days)
            for file in sorted(
                (root / source / (first_day + timedelta(days=offset)).isoformat()).glob("*")
            )
        ]
        if not files:
            continue
        ext = files[0].suffix
        into = root / source / target.isoformat()
        merged = root / source / f".initial_load{ext}"
        with merged.open("wb") as out:
            for i, file in enumerate(files):
                with file.open("rb") as f:
                    if ext == ".csv" and i:
                        f.readline()  # the header, written once
                    data = f.read()
                out.write(data)
                if data and not data.endswith(b"\n"):
                    out.write(b"\n")
                file.unlink()
        for offset in range(days):
            folder = root / source / (first_day + timedelta(days=offset)).isoformat()
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        if source in CURRENT_STATE_KEYS:
            _keep_latest(merged, CURRENT_STATE_KEYS[source])
        into.mkdir(parents=True, exist_ok=True)
        merged.rename(into / f"{source}_initial_load{ext}")
    return target


# Extracts of records (not events): their key, whose latest version a current state holds.
CURRENT_STATE_KEYS = {"crm": "crm_id", "loyalty": "loyalty_id"}


def _keep_latest(path: Path, key: str) -> None:
    """Keep the last line of each key in a CSV whose records are one line each; lines that
    do not parse or have a blank key are kept as they are (the pipeline quarantines them)."""
    header, *lines = path.read_bytes().splitlines(keepends=True)
    index = next(csv.reader([header.decode("utf-8-sig")])).index(key)

    def key_of(line: bytes) -> str | None:
        try:
            fields = next(csv.reader([line.decode("utf-8")]))
        except (UnicodeDecodeError, csv.Error, StopIteration):
            return None
        return fields[index].strip() or None if len(fields) > index else None

    keys = [key_of(line) for line in lines]
    last = {k: i for i, k in enumerate(keys) if k is not None}
    kept = [line for i, (line, k) in enumerate(zip(lines, keys, strict=True))
            if k is None or last[k] == i]  # fmt: skip
    path.write_bytes(header + b"".join(kept))
