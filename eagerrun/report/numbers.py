"""How numbers and counts read wherever they are shown: one format per quantity (a loss, a metric, a step
time), a curve in one line, "1 step" and "2 steps", "3rd"."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from eagerrun.records import StepRecord

MIN_DECIMALS = 4  # Keras' progress bar: `loss: 543.4232`
MIN_SIGNIFICANT = 3  # for the smallest number of a column: a constant 0.00001 is not `0.0000`
MAX_SIGNIFICANT = 7  # about what a float32 holds: more digits would show its rounding
SCIENTIFIC_MIN_DECIMALS = 3  # 1.227e+01

NumberFormat = Callable[[float | None], str]


def column_format(values: Iterable[float | None]) -> NumberFormat:
    """The one format of one quantity (a loss, a metric) wherever it is shown: the step table, the summary
    and `compare`. `values` are its numbers in step order.

    At least 4 decimals (Keras' own) and 3 significant digits for its smallest number, and more where two
    steps in a row would look alike, up to 7 significant digits for its largest. Numbers fixed decimals
    cannot show so (10 million and more, under 0.0001, or too many decades apart for 7 digits) are in
    scientific notation, 4 to 7 significant digits by the same rule. No thousands separators: a number reads
    the same in every place and in the metrics file."""
    series = [v for v in values if v is not None and math.isfinite(v)]
    sizes = [abs(v) for v in series if v != 0]
    if not sizes:
        return _fixed(MIN_DECIMALS)
    top, bottom = _exponent(max(sizes)), _exponent(min(sizes))
    most = MAX_SIGNIFICANT - 1 - top  # decimals that give the largest number 7 significant digits
    needed = MIN_SIGNIFICANT - 1 - bottom  # decimals that give the smallest 3
    steps = [(a, b) for a, b in zip(series, series[1:]) if a != b]
    if top >= 7 or bottom < -4 or needed > most:
        apart = max((_exponent(max(abs(a), abs(b))) - _exponent(abs(a - b)) for a, b in steps), default=0)
        return _scientific(min(MAX_SIGNIFICANT - 1, max(SCIENTIFIC_MIN_DECIMALS, apart)))
    least = max(needed, min(MIN_DECIMALS, most), 0)
    # numbers a step apart that differ by 10^-d or more differ at d decimals
    apart = max((-_exponent(abs(a - b)) for a, b in steps), default=0)
    return _fixed(min(most, max(least, apart)))


def ms_format(times_s: Iterable[float | None]) -> NumberFormat:
    """Step times, given in seconds, as milliseconds in one form wherever they are shown (the table's
    `time (ms)`, the summary, `compare`): decimals for the shortest to keep 3 significant digits, 0 to 3."""
    shortest = min((t * 1000 for t in times_s if t is not None and t > 0), default=1.0)
    decimals = min(3, max(0, 2 - _exponent(shortest)))

    def as_ms(seconds: float | None) -> str:
        return _special(seconds) or f"{seconds * 1000:.{decimals}f}"  # type: ignore[operator]

    return as_ms


def _exponent(value: float) -> int:
    return math.floor(math.log10(value))


def _fixed(decimals: int) -> NumberFormat:
    return lambda value: _special(value) or f"{value:.{decimals}f}"


def _scientific(decimals: int) -> NumberFormat:
    return lambda value: _special(value) or f"{value:.{decimals}e}"


def _special(value: float | None) -> str | None:
    """A missing value is a dash; a non-finite one says what it is."""
    if value is None:
        return "—"
    return None if math.isfinite(value) else str(value)


def value_formats(records: Iterable[StepRecord]) -> dict[str, NumberFormat]:
    """Each value's one format, from its numbers over all of `records` (every run's, for `compare`)."""
    series: dict[str, list[float | None]] = {}
    for record in records:
        for name, value in record.values.items():
            series.setdefault(name, []).append(value)
    return {name: column_format(values) for name, values in series.items()}


def format_rate(examples_per_s: float | None) -> str:
    return "" if examples_per_s is None else f"{examples_per_s:.0f}"


def plural(count: int, word: str) -> str:
    """'1 step', '2 steps'."""
    return f"{count} {word}{'' if count == 1 else 's'}"


def ordinal(number: int) -> str:
    suffix = "th" if 10 <= number % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(number % 10, "th")
    return f"{number}{suffix}"


# -- curves --------------------------------------------------------------------------------------------------

SPARK_TERMINAL = "▁▂▃▄▅▆▇█"
SPARK_PLAIN = "_.-~=+*#"  # the same eight levels in characters any log viewer shows
SPARK_WIDTH = 40
SPARK_MIN_WIDTH = 8
LOG_SCALE_SPAN = 100  # a curve whose values span two decades or more is drawn on a log scale


def spans_decades(values: Iterable[float | None]) -> bool:
    """Whether a curve of `values` needs a log scale: all positive, the largest 100 times the smallest or more."""
    known = [v for v in values if v is not None and math.isfinite(v)]
    return bool(known) and min(known) > 0 and max(known) >= LOG_SCALE_SPAN * min(known)


def sparkline(values: list[float | None], *, plain: bool, width: int = SPARK_WIDTH, log: bool = False) -> str:
    """A curve of `values` in one line of block characters (plain characters off a terminal), on a log
    scale where `log`; a stretch with no value is a space."""
    levels = SPARK_PLAIN if plain else SPARK_TERMINAL
    width = min(width, len(values))
    buckets: list[float | None] = []
    for index in range(width):
        chunk = [math.log10(v) if log else v
                 for v in values[index * len(values) // width:(index + 1) * len(values) // width]
                 if v is not None and math.isfinite(v) and (v > 0 or not log)]
        buckets.append(sum(chunk) / len(chunk) if chunk else None)
    known = [b for b in buckets if b is not None]
    if not known:
        return ""
    low, high = min(known), max(known)
    span = (high - low) or 1.0
    return "".join(" " if b is None else levels[min(len(levels) - 1, int((b - low) / span * len(levels)))]
                   for b in buckets)
