"""The session export contract (export-format.md, version 1.1) as data.

Column lists, vocabularies and identifier patterns are defined once here and used by the
reader (:mod:`transforms.exports`), the quality suites (``expectations/``), the staging
integrity check (:mod:`transforms.integrity`) and the sample data generator.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

SESSION_COLUMNS: tuple[str, ...] = (
    "session_id", "clinic_id", "patient_id", "episode_id", "therapist_id", "session_date",
    "visit_type", "condition_code", "referral_source", "payer_type", "cpt_code", "units",
    "duration_min", "techniques", "pain_pre", "pain_post", "function_instrument",
    "function_score", "age_band", "sex", "symptom_weeks", "goals_documented", "authorized_visits",
)
SESSION_REQUIRED: tuple[str, ...] = (
    "session_id", "clinic_id", "patient_id", "therapist_id", "session_date", "visit_type",
    "condition_code", "payer_type", "cpt_code", "units", "duration_min", "age_band", "sex",
)
ROM_COLUMNS: tuple[str, ...] = ("session_id", "clinic_id", "joint", "movement", "side", "timing", "value")
ROM_REQUIRED: tuple[str, ...] = ROM_COLUMNS

FILE_COLUMNS: dict[str, tuple[str, ...]] = {"sessions": SESSION_COLUMNS, "rom": ROM_COLUMNS}
FILE_REQUIRED: dict[str, tuple[str, ...]] = {"sessions": SESSION_REQUIRED, "rom": ROM_REQUIRED}

VISIT_TYPES = ("evaluation", "treatment", "reevaluation", "discharge")
REFERRAL_SOURCES = ("physician", "chiropractor", "physical_therapist", "other_provider", "self")
PAYER_TYPES = ("commercial", "medicare", "medicaid", "workers_comp", "auto_pip", "fsa_hsa", "self_pay")
INSURED_PAYERS = ("commercial", "medicare", "medicaid", "workers_comp", "auto_pip")
TIMED_CPT_CODES = ("97110", "97112", "97124", "97140", "97530")
TECHNIQUES = (
    "trigger_point", "myofascial_release", "neuromuscular", "deep_tissue", "lymphatic_drainage",
    "swedish", "stretching", "pnf", "cupping", "instrument_assisted", "other",
)
FUNCTION_INSTRUMENTS = ("ODI", "NDI", "QuickDASH", "LEFS", "PSFS", "FIQR", "HIT6", "BCTQ", "FFI", "KOOS", "JFLS")
AGE_BANDS = ("0-17", "18-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+")
SEXES = ("F", "M", "X", "U")
# Booleans are matched in any letter case (contract 1.1: `True`, `FALSE`, `Yes`); the lists are lower case.
BOOLEAN_TRUE = ("true", "1", "yes")
BOOLEAN_FALSE = ("false", "0", "no")
JOINTS = ("cervical", "thoracic", "lumbar", "shoulder", "elbow", "wrist", "hip", "knee", "ankle", "tmj")
MOVEMENTS = (
    "flexion", "extension", "lateral_flexion", "rotation", "abduction", "adduction", "internal_rotation",
    "external_rotation", "radial_deviation", "ulnar_deviation", "dorsiflexion", "plantarflexion", "opening",
)
SIDES = ("left", "right", "na")
TIMINGS = ("pre", "post")

EARLIEST_SESSION_DATE = "2000-01-01"
DURATION_MIN_RANGE = (1, 240)
PAIN_RANGE = (0, 10)

# Surrounding white space trimmed from every text value (contract 1.1: spaces, tabs, line breaks; also
# vertical tab, form feed and the no-break space spreadsheets write).
WHITESPACE = " \t\n\r\x0b\x0c\u00a0"


def trim_sql(expr: str) -> str:
    """SQL trimming :data:`WHITESPACE` from both ends of a text expression (an expression of code, not input)."""
    chars = " || ".join(f"chr({ord(c)})" for c in WHITESPACE)
    return f"trim({expr}, {chars})"


# --- identifier column names (contract 1.1: whole words of the normalised name) ---------------------

# One word of a column name that marks a direct identifier (HIPAA Safe Harbor: names, contact details,
# geography below the state, dates of birth, record / plan / account / licence numbers, device and web
# identifiers, images, free text), in English and the languages clinics' systems most often use.
IDENTIFIER_NAME_WORDS = frozenset({
    # names
    "name", "names", "firstname", "lastname", "surname", "forename", "givenname", "fullname", "middlename",
    "maidenname", "nickname", "initials", "signature", "patientname",
    # contact details
    "email", "emails", "emailaddress", "mail", "tel", "telephone", "phone", "phones", "phonenumber", "mobile",
    "mobilenumber", "cell", "cellphone", "fax", "pager", "contact", "contacts",
    # geography smaller than a state
    "address", "addresses", "addr", "street", "city", "town", "county", "zip", "zipcode", "postcode", "postal",
    "postalcode",
    # dates of birth
    "dob", "birth", "birthday", "birthdate", "birthdates", "born", "dateofbirth",
    # record, plan, account, licence and other numbers
    "ssn", "mrn", "nhs", "mbi", "passport", "license", "licence", "licenses", "account", "accounts",
    "accountnumber", "iban", "policy", "policies", "policynumber", "memberid", "subscriberid", "insuranceid",
    "beneficiary", "certificate",
    # web and device identifiers, biometrics, images
    "url", "urls", "website", "ipaddress", "imei", "vin", "serial", "fingerprint", "biometric", "biometrics",
    "photo", "photos", "picture", "face",
    # free text
    "note", "notes", "comment", "comments", "remark", "remarks", "memo",
    # German
    "vorname", "nachname", "familienname", "geburtsdatum", "geburtstag", "geburtsort", "geboren", "anschrift",
    "adresse", "strasse", "hausnummer", "postleitzahl", "plz", "wohnort", "telefon", "telefonnummer", "handy",
    "handynummer", "mobilnummer", "versichertennummer", "versicherungsnummer", "sozialversicherungsnummer",
    # French, Spanish, Italian, Portuguese, Dutch, Scandinavian
    "nom", "prenom", "naissance", "courriel", "rue", "portable", "nombre", "apellido", "apellidos",
    "nacimiento", "telefono", "correo", "direccion", "calle", "movil", "nome", "cognome", "nascita",
    "indirizzo", "cellulare", "nascimento", "morada", "naam", "voornaam", "achternaam", "geboortedatum",
    "adres", "straat", "telefoonnummer", "bsn", "fodselsdato", "personnummer", "fodelsedatum",
})
# Consecutive words that together mark an identifier (each word alone does not).
IDENTIFIER_NAME_PHRASES: tuple[tuple[str, ...], ...] = (
    ("e", "mail"), ("ip", "address"), ("social", "security"), ("social", "insurance"), ("medical", "record"),
    ("record", "number"), ("chart", "number"), ("patient", "number"), ("patient", "no"), ("patient", "nr"),
    ("member", "id"), ("member", "number"), ("member", "no"), ("subscriber", "id"), ("subscriber", "number"),
    ("insurance", "id"), ("insurance", "number"), ("insurance", "no"), ("insured", "id"), ("policy", "id"),
    ("medicare", "id"), ("medicare", "number"), ("medicaid", "id"), ("medicaid", "number"), ("health", "plan", "id"),
    ("device", "id"), ("codice", "fiscale"),
)


def _fold(text: str) -> str:
    # Case-fold and drop accents, so that 'Prénom' and 'Straße' compare as 'prenom' and 'strasse'.
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ø", "o").replace("æ", "ae")


def column_words(name: str) -> list[str]:
    """The words of a column name: split at anything not a letter or digit, at camelCase and at digits.

    ``'Mobile Number'`` -> ``['mobile', 'number']``, ``'birthDate'`` -> ``['birth', 'date']``,
    ``'SSNNumber'`` -> ``['ssn', 'number']``, ``'zip5'`` -> ``['zip', '5']``.
    """
    words: list[str] = []
    current = ""
    chars = list(name)
    for i, c in enumerate(chars):
        if not c.isalnum():
            if current:
                words.append(current)
            current = ""
            continue
        if current:
            prev = current[-1]
            nxt = chars[i + 1] if i + 1 < len(chars) else ""
            boundary = (
                (prev.isdigit() != c.isdigit())                      # letters <-> digits
                or (prev.islower() and c.isupper())                  # camelCase
                or (prev.isupper() and c.isupper() and nxt.islower())  # ACRONYMWord
            )
            if boundary:
                words.append(current)
                current = ""
        current += c
    if current:
        words.append(current)
    return [_fold(w) for w in words]


def identifier_column_word(name: str) -> str | None:
    """The word (or words) of a column name that mark it as a direct identifier, or None.

    Contract columns are never identifiers; otherwise the name's whole words are matched against
    :data:`IDENTIFIER_NAME_WORDS` and :data:`IDENTIFIER_NAME_PHRASES` (``telehealth`` is not ``tel``).
    """
    if name.strip().lower() in SESSION_COLUMNS or name.strip().lower() in ROM_COLUMNS:
        return None
    words = column_words(name)
    for word in words:
        if word in IDENTIFIER_NAME_WORDS:
            return word
    for phrase in IDENTIFIER_NAME_PHRASES:
        n = len(phrase)
        for i in range(len(words) - n + 1):
            if tuple(words[i:i + n]) == phrase:
                return " ".join(phrase)
    return None



# --- identifier-looking values (contract 1.1, "What the pipeline must do with bad input") -----------

# The id columns whose values are checked, and those where a date also counts (a likely date of birth).
IDENTIFIER_VALUE_COLUMNS: tuple[str, ...] = ("clinic_id", "patient_id", "therapist_id", "session_id", "episode_id")
DATE_CHECKED_COLUMNS: tuple[str, ...] = ("patient_id", "therapist_id")
ROM_ID_COLUMNS: tuple[str, ...] = ("session_id", "clinic_id")

# Regular expressions in RE2 syntax (DuckDB), searched anywhere in the trimmed value ("is or contains").
_NB = r"(?:^|[^0-9])"   # no digit just before
_NE = r"(?:[^0-9]|$)"   # no digit just after
_MONTH = r"(?:0?[1-9]|1[0-2])"
_DAY = r"(?:0?[1-9]|[12][0-9]|3[01])"
_YEAR4 = r"(?:19|20)[0-9]{2}"
# Between the parts of a written date: 'March 14 1957', '14th of March 1927', '14 de marzo de 1957'.
_GAP = r"[\s.,/-]*((of|de|del)\s+)?"
_ORDINAL = r"(?:st|nd|rd|th)?"
# Between the digit groups of an SSN or a phone number: up to four separators, each white space or one
# of . _ / , : ; | ~ * # = + ! \ [ ] - ('555 - 867 - 5309', 'pt_555_867_5302', '555,867,5309',
# '[555][867][5309]').
_SEP_CHARS = r"\s._/,:;|~*#=+!\\\[\]-"
_SEP = rf"[{_SEP_CHARS}]"

# The words 'at' and 'dot' written out to dodge filters: ' at ', '[at]', '(at)', '<at>', '_at_', '.at.'.
# A real dot must join two words ('at St. Mary's' is a clinic's name, not an address).
_AT = r"(\s+at\s+|\s*[\[(<{]\s*at\s*[\])>}]\s*|[._/+*#=-]at[._/+*#=-])"
_DOT = r"(\.|\s+dot\s+|\s*[\[(<{]\s*(dot|\.)\s*[\])>}]\s*|[._/+*#=-]dot[._/+*#=-])"
EMAIL_RE = (
    # an '@' between a name and a domain, maybe with spaces around it: 'jane.roe@example.org',
    # 'jane @ example.org', '"jane roe"@[192.168.0.1]'
    r"[^\s@]+\s*@\s*[^\s@]+\.[^\s@]+"
    # any '@' (or '%40', '%2540', '&#64;' as in a URL or a web page) between two words: 'jane@gmail',
    # 'jane@example dot org'; a pseudonymous token has no '@'
    r"|(?i:[a-z0-9._%+-]\s*(@|%40|%2540|&#0*64;)\s*[a-z0-9])"
    # written out: 'jane.roe at example dot org', 'jroe [at] example [dot] org', 'jane at example.com',
    # 'jane_at_example_dot_com'; the last part a top-level domain of letters
    rf"|(?i:[a-z0-9._%+]+{_AT}[a-z0-9-]+({_DOT}[a-z0-9-]+)*{_DOT}[a-z]{{2,}}([^a-z0-9]|$))"
)
SSN_RE = (
    rf"(?i:(ssn|social[\s_.-]*sec(urity)?)[^0-9a-z]{{0,3}}[0-9]{{3}}{_SEP}?[0-9]{{2}}{_SEP}?[0-9]{{4}})"
    rf"|{_NB}[0-9]{{3}}{_SEP}{{1,4}}[0-9]{{2}}{_SEP}{{1,4}}[0-9]{{4}}{_NE}"
)
# A group of three or four digits that is not a year of 1900-2099 ('S012-2026-0315' is a case number).
_NOT_YEAR = r"([0-9]{3}|[03-9][0-9]{3}|1[0-8][0-9]{2}|2[1-9][0-9]{2})"
PHONE_RE = (
    # North American: '(555) 867-5309', '+1 555 867 5309', '5558675309', '555/867/5309', '555,867,5309'
    rf"{_NB}(\+?1{_SEP}{{0,4}})?(\([0-9]{{3}}\)|[0-9]{{3}}){_SEP}{{0,4}}[0-9]{{3}}{_SEP}{{0,4}}[0-9]{{4}}{_NE}"
    # with a country code: '+44 20 7946 0958', '0044 20 7946 0958' ('EP+2024-0042' is a token)
    rf"|(^|[^0-9A-Za-z])\+[0-9]([(){_SEP_CHARS}]{{0,4}}[0-9]){{6,14}}"
    rf"|{_NB}00[1-9]([(){_SEP_CHARS}]{{0,4}}[0-9]){{9,13}}{_NE}"
    # national, with a trunk prefix: '020 7946 0958', '(030) 1234 5678', '06.12.34.56.78', '030/1234-5678'
    rf"|{_NB}\(?0[1-9]([ ).]{{0,2}}[0-9]){{8,10}}{_NE}"
    rf"|{_NB}\(?0[1-9][0-9]{{1,3}}\)?[\s/-]{{1,3}}{_NOT_YEAR}[\s/-]{{0,3}}[0-9]{{3,5}}{_NE}"
    # two groups of five ('98765 43210'), and nine or more digits one by one ('5 5 5 8 6 7 5 3 0 9')
    rf"|{_NB}[0-9]{{5}}[\s-][0-9]{{5}}{_NE}"
    r"|([0-9]\s{1,2}){8,}[0-9]"
)
LONG_NUMBER_RE = r"[0-9]{9,}"
_MONTH_NAME = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?"
    r"|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?"
    # German, French, Spanish, Italian, Dutch and Portuguese names and the usual abbreviations
    r"|januar|jänner|februar|märz|mär|maerz|mai|juni|juli|oktober|okt|dezember|dez"
    r"|janvier|février|fevrier|févr|fevr|fév|fev|mars|avril|juin|juillet|août|aout|septembre|octobre"
    r"|novembre|décembre|decembre"
    r"|enero|ene|febrero|marzo|abril|mayo|junio|julio|agosto|ago|septiembre|setiembre|octubre|noviembre"
    r"|diciembre|dic"
    r"|gennaio|gen|febbraio|aprile|maggio|giugno|luglio|lug|settembre|set|ottobre|dicembre"
    r"|januari|februari|maart|mrt|mei|augustus"
    r"|janeiro|fevereiro|março|marco|maio|junho|julho|setembro|outubro|novembro|dezembro)"
)
# A date written with a month name: 'March 14 1957', 'Mar 14, 1957', '14 March 1957', '1957-Mar-14',
# '14-Mar-57', '10. März 1957', '14th of March 1927'. A two-digit year needs separators around the
# month: 'P1DEC57A' is a hexadecimal token, not a date.
_ROMAN_MONTH = r"(?:i|ii|iii|iv|v|vi|vii|viii|ix|x|xi|xii)"
NAMED_DATE_RE = (
    rf"(?i:(?:^|[^a-zà-ÿ]){_MONTH_NAME}{_GAP}{_DAY}{_ORDINAL}{_GAP}{_YEAR4}{_NE}"
    rf"|{_NB}{_DAY}{_ORDINAL}{_GAP}{_MONTH_NAME}{_GAP}{_YEAR4}{_NE}"
    rf"|{_NB}{_YEAR4}[\s.,/-]+{_MONTH_NAME}[\s.,/-]+{_DAY}{_ORDINAL}{_NE}"
    rf"|{_NB}{_DAY}{_ORDINAL}[\s./-]+{_MONTH_NAME}[\s./-]+'?[0-9]{{2}}{_NE}"
    # a two-digit year written with an apostrophe: "14 March '57", "March 14th, '57"
    rf"|(?:^|[^a-zà-ÿ]){_MONTH_NAME}{_GAP}{_DAY}{_ORDINAL}[\s.,/-]*'[0-9]{{2}}{_NE}"
    # a Roman month ('14.III.1957', '14/III/1957'), an ISO week date with its day ('1957-W11-4'; a week
    # alone is a cohort, not a birthday), East Asian ('1957年3月14日')
    rf"|{_NB}{_DAY}\s?[./]\s?{_ROMAN_MONTH}\s?[./]\s?{_YEAR4}{_NE}"
    rf"|{_NB}{_YEAR4}-?w[0-5][0-9]-?[1-7]([^0-9]|$)"
    rf"|{_NB}{_YEAR4}\s*[年년]\s*{_MONTH}\s*[月월])"
)
# Between the numbers of a date with a four-digit year: one or two of / . _ - , : ; | ~ * # = + ! \
# (maybe with a space either side) or one or two spaces: '1957-03-14', '14. 03. 1957', '1957_03_14',
# 'DOB 1957 03 14', '1957--03--14', '3 - 14 - 1957'.
_DATE_SEP_CHARS = r"/._,:;|~*#=+!\\-"
_DATE_SEP = rf"(?:\s?[{_DATE_SEP_CHARS}]{{1,2}}\s?|\s{{1,2}})"
# A numeric date with separators: '1957-03-14', '1957/03/14', '03/14/1957', '14.03.1957', '14-03-1957',
# and with a two-digit year only when written with '/' or '.' ('3/14/57', '14.03.57'). The capture
# group is the candidate, checked to be a real calendar date.
SEPARATED_DATE_RE = (
    rf"{_NB}({_YEAR4}{_DATE_SEP}{_MONTH}{_DATE_SEP}{_DAY}"
    rf"|(?:{_DAY}{_DATE_SEP}{_MONTH}|{_MONTH}{_DATE_SEP}{_DAY}){_DATE_SEP}{_YEAR4}"
    rf"|(?:{_DAY}[/.]{_MONTH}|{_MONTH}[/.]{_DAY})[/.][0-9]{{2}}){_NE}"
)
# Formats a candidate may be in, by its shape: year first, four-digit year last, two-digit year last.
SEPARATED_DATE_FORMATS = (("%Y-%m-%d",), ("%d-%m-%Y", "%m-%d-%Y"), ("%d-%m-%y", "%m-%d-%y"))
# Eight digits in a row are a date when they read as one, in a plausible year, in one of these orders.
COMPACT_DATE_FORMATS = ("%Y%m%d", "%m%d%Y", "%d%m%Y")
COMPACT_DATE_YEARS = (1900, 2099)

# Before matching, a value is normalised so that look-alike characters cannot hide an identifier:
# invisible format characters (zero-width space, joiners, BOM) and combining marks are dropped;
# control characters, every kind of space and the Hangul and Braille blanks become a space; the
# characters listed here become their ASCII look-alike; every character whose compatibility form
# (Unicode NFKC) is one printable ASCII character becomes it (full-width 'ａｔ', '＠', mathematical
# '𝐌𝐚𝐫'); every script's digits become ASCII digits ('٥', '५', '⁵', '⑤'); and any other punctuation
# or symbol becomes '.', a separator every pattern knows ('555·867·5309').
_LOOKALIKES = ("ⓐⒶ🄰‐‑‒–—―−’‘′", "@@@-------" + "'" * 3)
_BLANKS = r"\p{Z}\p{Cc}\x{115F}\x{1160}\x{3164}\x{FFA0}\x{2800}"


# Planes 4-13 hold no character and planes 15-16 only private-use ones, which can never be in the table:
# skipping them builds it in a quarter of the time, at the start of every process (tests check both
# claims against the running Python's Unicode data).
FOLD_SCANNED = (range(0x80, 0x40000), range(0xE0000, 0xF0000))


def _fold_table(scanned: tuple[range, ...] = FOLD_SCANNED) -> tuple[str, str]:
    """The one character-for-character table of the normalisation (see above), built once."""
    table = dict(zip(*_LOOKALIKES, strict=True))
    for code in (c for block in scanned for c in block):
        ch = chr(code)
        if ch in table:
            continue
        if unicodedata.category(ch) in ("Nd", "No") and unicodedata.digit(ch, None) is not None:
            table[ch] = str(unicodedata.digit(ch))
            continue
        compat = unicodedata.normalize("NFKC", ch)
        if len(compat) == 1 and compat.isascii() and compat.isprintable() and compat != " ":
            table[ch] = compat
    ordered = sorted(table.items())  # parts of the table are runs of neighbouring code points
    return "".join(k for k, _ in ordered), "".join(v for _, v in ordered)


# The table as built for one Unicode version, shipped so that a process does not spend 0.2 s of its
# start building it again (every `outcomes` command checks names). Another Python's Unicode data builds
# its own. Regenerate after a Python upgrade: python -c "import transforms.contract as c; c.write_fold_table()"
FOLD_TABLE_FILE = Path(__file__).with_name("unicode_fold.json")


def _load_fold_table(path: Path = FOLD_TABLE_FILE, version: str = unicodedata.unidata_version) -> tuple[str, str]:
    """The shipped table when it was built for ``version`` of the Unicode data, else a freshly built one."""
    try:
        shipped = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        shipped = {}
    if {k: shipped.get(k) for k in ("unidata_version", "scanned", "lookalikes")} == _fold_key(version):
        return shipped["from"], shipped["to"]
    return _fold_table()


def _fold_key(version: str = unicodedata.unidata_version) -> dict[str, object]:
    """What the table is built from: the Unicode data's version, the code points scanned, the look-alikes."""
    return {"unidata_version": version, "scanned": ",".join(f"{r.start:X}-{r.stop:X}" for r in FOLD_SCANNED),
            "lookalikes": list(_LOOKALIKES)}


def write_fold_table(path: Path = FOLD_TABLE_FILE) -> None:
    """Write the table built from the running Python's Unicode data to ``path`` (see FOLD_TABLE_FILE)."""
    folded_from, folded_to = _fold_table()
    table = {**_fold_key(), "from": folded_from, "to": folded_to}
    path.write_text(json.dumps(table, ensure_ascii=True, indent=0) + "\n", encoding="utf-8")


_FOLD_FROM, _FOLD_TO = _load_fold_table()
_FOLD_PART = 240  # characters per part of the table (see _normalised_sql)


@dataclass(frozen=True)
class IdentifierKind:
    """One kind of identifier-looking value: how the rejection reason names it and its pattern."""

    label: str
    regex: str


# Checked in this order; the first kind a value matches names it in the rejection reason.
IDENTIFIER_KINDS: tuple[IdentifierKind, ...] = (
    IdentifierKind("an e-mail address", EMAIL_RE),
    IdentifierKind("an SSN", SSN_RE),
    IdentifierKind("a phone number", PHONE_RE),
    IdentifierKind("a number of 9 or more digits", LONG_NUMBER_RE),
)
DATE_KIND = "a date"


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _normalised_sql(expr: str) -> str:
    """``expr`` with look-alike characters made plain (see the comment above :data:`_LOOKALIKES`)."""
    plain = f"regexp_replace(regexp_replace({expr}, '[\\p{{Cf}}\\p{{M}}]', '', 'g'), '[{_BLANKS}]', ' ', 'g')"
    # translate costs in proportion to its table for every value (0.1 ms for the whole table here):
    # only a value that holds a character of the table (a cheap match) is translated, and only by the
    # parts of the table (runs of code points) whose characters it holds
    folded = "q"
    for start in range(0, len(_FOLD_FROM), _FOLD_PART):
        part_from, part_to = _FOLD_FROM[start:start + _FOLD_PART], _FOLD_TO[start:start + _FOLD_PART]
        folded = (f"list_transform([{folded}], lambda q: CASE WHEN regexp_matches(q, {_lit('[' + part_from + ']')}) "
                  f"THEN translate(q, {_lit(part_from)}, {_lit(part_to)}) ELSE q END)[1]")
    folded = (f"list_transform([{plain}], lambda q: CASE WHEN regexp_matches(q, {_lit('[' + _FOLD_FROM + ']')}) "
              f"THEN {folded} ELSE q END)[1]")
    return f"regexp_replace({folded}, '[^\\P{{P}}\\x00-\\x7F]|[^\\P{{S}}\\x00-\\x7F]', '.', 'g')"


def _date_sql(expr: str) -> str:
    compact = " OR ".join(
        f"year(try_strptime(x, {_lit(f)})) BETWEEN {COMPACT_DATE_YEARS[0]} AND {COMPACT_DATE_YEARS[1]}"
        for f in COMPACT_DATE_FORMATS
    )
    year_first, year_last, short_year = ("[" + ", ".join(_lit(f) for f in group) + "]" for group in SEPARATED_DATE_FORMATS)
    dashed = f"regexp_replace(x, '[ {_DATE_SEP_CHARS}]+', '-', 'g')"
    real_date = (
        f"CASE WHEN regexp_matches(x, '^[0-9]{{4}}') THEN try_strptime({dashed}, {year_first}) "
        f"WHEN regexp_matches(x, '[0-9]{{4}}$') THEN try_strptime({dashed}, {year_last}) "
        f"ELSE try_strptime({dashed}, {short_year}) END IS NOT NULL"
    )
    return (
        f"(regexp_matches({expr}, {_lit(NAMED_DATE_RE)}) "
        f"OR len(list_filter(regexp_extract_all({expr}, '[0-9]+'), lambda x: length(x) = 8 AND ({compact}))) > 0 "
        f"OR len(list_filter(regexp_extract_all({expr}, {_lit(SEPARATED_DATE_RE)}, 1), lambda x: {real_date})) > 0)"
    )


def identifier_kind_sql(expr: str, dates: bool) -> str:
    """SQL giving the kind of identifier a text value looks like (a label of :data:`IDENTIFIER_KINDS`,
    or :data:`DATE_KIND` when ``dates``), or NULL when it looks like none.

    The one implementation of the contract's identifier-value rule: the reader, the staging integrity
    check and the quarantine's withholding all use it. ``expr`` is an expression of code (a column
    name), never input. A quick combined pattern first skips the values that cannot match anything
    (printable ASCII values matching no pattern); the others are normalised (:func:`_normalised_sql`) first.
    """
    regexes = [k.regex for k in IDENTIFIER_KINDS]
    if dates:
        regexes += [NAMED_DATE_RE, SEPARATED_DATE_RE, "[0-9]{8}"]
    quick = "|".join(f"(?:{r})" for r in regexes) + r"|[^\x20-\x7E]"
    # the value is normalised once and bound to the lambda's parameter, which every pattern reads
    branches = "".join(f" WHEN regexp_matches(n, {_lit(k.regex)}) THEN {_lit(k.label)}" for k in IDENTIFIER_KINDS)
    if dates:
        branches += f" WHEN {_date_sql('n')} THEN {_lit(DATE_KIND)}"
    kind = f"list_transform([{_normalised_sql(expr)}], lambda n: CASE{branches} END)[1]"
    return f"(CASE WHEN {expr} IS NULL OR NOT regexp_matches({expr}, {_lit(quick)}) THEN NULL ELSE {kind} END)"


def identifier_kinds(values: Sequence[str], dates: bool) -> list[str | None]:
    """The kind of identifier each value looks like (None for none), in one DuckDB query."""
    from transforms.local_duckdb import local_cursor

    if not values:
        return []
    with local_cursor() as con:
        rows = con.execute(f"SELECT {identifier_kind_sql('v', dates)} FROM unnest(CAST(? AS VARCHAR[])) "
                           "WITH ORDINALITY AS t(v, i) ORDER BY i", [list(values)]).fetchall()
    return [k for (k,) in rows]


# Names (folders, files, columns) that could hold an identifier: digits, an '@', written-out e-mail
# words or non-ASCII look-alikes. Only these are checked in DuckDB (names are checked one by one).
_SUSPECT_NAME = re.compile(r"[0-9].*[0-9].*[0-9]|[@＠]|%40|%2540|&#|(\b|_)at(\b|_)|[^\x20-\x7E]", re.IGNORECASE)
# An e-mail address in a name, with '@' or 'at' written out ('jane at example.com', 'jo_at_example_dot_org').
_EMAIL_IN_NAME = re.compile(r"\S+\s*[@＠﹫]\s*\S+|\S+?(\s+|\s*[\[(<{]\s*|[_-])at(\s+|\s*[\])>}]\s*|[_-])\S+",
                            re.IGNORECASE)


def masked(text: str) -> str:
    """``text`` with anything that could identify someone blanked: e-mail addresses become ``(e-mail)``
    and every digit ``#`` (``north-555-867-5309`` -> ``north-###-###-####``)."""
    text = _EMAIL_IN_NAME.sub("(e-mail)", text)
    return re.sub(r"\d", "#", text)  # \d: a digit of any script


def names_like_identifiers(names: Sequence[str], dates: bool = False) -> dict[str, str]:
    """The names (of folders, files or columns) that look like an identifier, with what they look like.

    The same rule as for id values; without dates unless asked (export folders are named by month).
    Only names with digits, an '@' or non-ASCII characters are checked, in one query, and each name
    once per process: a run looks at the inbox's folder names several times (:data:`_NAME_KINDS`)."""
    suspects = [n for n in names if _SUSPECT_NAME.search(n)]
    # answered from a local copy: another thread may empty the memo meanwhile (it is only a memo)
    known = {n: k for n in suspects if (k := _NAME_KINDS.get((n, dates), _UNKNOWN)) is not _UNKNOWN}
    unknown = list(dict.fromkeys(n for n in suspects if n not in known))
    if unknown:
        found = dict(zip(unknown, identifier_kinds(unknown, dates), strict=True))
        if len(_NAME_KINDS) + len(found) > _NAME_KINDS_MAX:
            _NAME_KINDS.clear()
        _NAME_KINDS.update(((n, dates), k) for n, k in found.items())
        known.update(found)
    return {n: k for n in suspects if (k := known[n])}


# What names_like_identifiers found per (name, dates); the rule is fixed for the life of a process.
_NAME_KINDS: dict[tuple[str, bool], str | None] = {}
_UNKNOWN = object()
_NAME_KINDS_MAX = 100_000


def shown_name(name: str, dates: bool = True) -> str:
    """A name as reasons and warnings may show it: itself, or :func:`masked` when it looks like an
    identifier (it goes to the load log, the run's output and maybe the quality page)."""
    return masked(name) if names_like_identifiers([name], dates) else name


def identifier_kind(value: str | None, dates: bool = True) -> str | None:
    """The kind of identifier ``value`` looks like, or None (runs :func:`identifier_kind_sql` in DuckDB)."""
    from transforms.local_duckdb import local_cursor

    with local_cursor() as con:
        return con.execute(f"SELECT {identifier_kind_sql('v', dates)} FROM (SELECT CAST(? AS VARCHAR) AS v)",
                           [value]).fetchone()[0]
