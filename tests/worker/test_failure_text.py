"""The traceback stored with a dead letter: the standard text minus 3.11's caret lines."""

from __future__ import annotations

import re
import traceback

import pytest

from workerkit.worker.failures import describe_failure, format_traceback

CARETS = re.compile(r"\s*[~^]+\s*\n?")


def standard_without_carets(exc: BaseException) -> str:
    text = "".join(traceback.format_exception(exc))
    return "".join(line for line in text.splitlines(True) if not CARETS.fullmatch(line))


def lookup(table: dict[str, int]) -> int:
    return table["missing"] + 1


def convert() -> int:
    try:
        return lookup({})
    except KeyError as exc:
        raise ValueError("no rate for the order's currency") from exc


def handle() -> None:
    try:
        convert()
    except ValueError:
        raise RuntimeError("order ORD-1 not priced")  # noqa: B904 - the context is the point


def caught(fn) -> BaseException:  # noqa: ANN001
    try:
        fn()
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("expected an exception")


def test_chained_exceptions_match_the_standard_text_without_carets() -> None:
    exc = caught(handle)
    ours = format_traceback(exc)
    assert ours == standard_without_carets(exc)
    assert "The above exception was the direct cause" in ours
    assert "During handling of the above exception" in ours
    assert 'return table["missing"] + 1' in ours  # the source line of each frame is kept
    assert not any(CARETS.fullmatch(line) for line in ours.splitlines(True))


def test_suppressed_context_and_notes_follow_the_standard() -> None:
    def raise_with_note() -> None:
        try:
            lookup({})
        except KeyError:
            error = LookupError("tariff table empty")
            error.add_note("tariffs are loaded at 06:00")
            raise error from None

    exc = caught(raise_with_note)
    assert format_traceback(exc) == standard_without_carets(exc)
    assert "KeyError" not in format_traceback(exc)
    assert format_traceback(exc).endswith(
        "LookupError: tariff table empty\ntariffs are loaded at 06:00\n"
    )


def test_an_exception_whose_str_fails_still_gives_a_traceback() -> None:
    class Broken(Exception):
        def __str__(self) -> str:
            raise TypeError("no")

    exc = caught(lambda: (_ for _ in ()).throw(Broken()))
    text = format_traceback(exc)
    assert text.startswith("Traceback (most recent call last):\n")
    assert text.endswith("Broken: <exception str() failed>\n")


def test_exception_groups_keep_the_standard_format() -> None:
    def group() -> None:
        raise ExceptionGroup("two", [ValueError("a"), KeyError("b")])

    exc = caught(group)
    assert format_traceback(exc) == "".join(traceback.format_exception(exc))


@pytest.mark.parametrize("limit", [20_000, 300])
def test_describe_failure_keeps_the_tail_within_the_limit(limit: int) -> None:
    failure = describe_failure(caught(handle), max_traceback=limit)
    assert len(failure.traceback) <= limit
    assert failure.traceback.endswith("RuntimeError: order ORD-1 not priced\n")
    assert failure.error_type == "RuntimeError"
