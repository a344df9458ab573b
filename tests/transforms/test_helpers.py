import pytest

from transforms.helpers import (
    HELPERS,
    currency_exponent,
    hubspot_date,
    hubspot_datetime,
    minor_to_decimal,
    split_name,
    url_quote,
)


def test_helpers_maps_global_names_to_functions() -> None:
    assert HELPERS == {
        "minor_to_decimal": minor_to_decimal,
        "split_name": split_name,
        "hubspot_date": hubspot_date,
        "hubspot_datetime": hubspot_datetime,
        "url_quote": url_quote,
    }
    for function in HELPERS.values():
        assert type(function).__name__ == "function"


# minor_to_decimal -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount_minor", "currency", "expected"),
    [
        (4999, "USD", "49.99"),
        (400, "USD", "4.00"),
        (5, "EUR", "0.05"),
        (0, "INR", "0.00"),
        (321356, "INR", "3213.56"),
        (-4999, "USD", "-49.99"),
        (-5, "USD", "-0.05"),
        (500, "JPY", "500"),
        (-500, "JPY", "-500"),
        (1500000, "KRW", "1500000"),
        (250000, "VND", "250000"),
        (9900, "CLP", "9900"),
        (1200, "ISK", "1200"),
        (50000, "UGX", "50000"),
        (6550, "XAF", "6550"),
        (6550, "XOF", "6550"),
        (12345, "KWD", "12.345"),
        (5, "BHD", "0.005"),
        (1000, "IQD", "1.000"),
        (1000, "JOD", "1.000"),
        (1000, "LYD", "1.000"),
        (1000, "OMR", "1.000"),
        (1000, "TND", "1.000"),
        (12345, "CLF", "1.2345"),
        (10**30 + 1, "USD", "10000000000000000000000000000.01"),
    ],
)
def test_minor_to_decimal_uses_the_iso_4217_exponent(
    amount_minor: int, currency: str, expected: str
) -> None:
    assert minor_to_decimal(amount_minor, currency) == expected


@pytest.mark.parametrize(
    ("amount_minor", "expected"),
    [("4999", "49.99"), (" 400 ", "4.00"), ("-250", "-2.50"), ("+7", "0.07"), ("1000.00", "10.00")],
)
def test_minor_to_decimal_accepts_whole_number_strings(amount_minor: str, expected: str) -> None:
    assert minor_to_decimal(amount_minor, "USD") == expected


def test_minor_to_decimal_reads_currency_case_insensitively() -> None:
    assert minor_to_decimal(500, "jpy") == "500"
    assert minor_to_decimal(4999, " usd ") == "49.99"


@pytest.mark.parametrize("amount_minor", ["49.99", "abc", "", "1e3", "NaN", "١٢", "9" * 61])
def test_minor_to_decimal_rejects_strings_that_are_not_whole_minor_units(
    amount_minor: str,
) -> None:
    with pytest.raises(ValueError, match="whole number of minor units") as caught:
        minor_to_decimal(amount_minor, "USD")

    assert repr(amount_minor)[:20] in str(caught.value)


@pytest.mark.parametrize("amount_minor", [49.99, 4999.0, None, True, [4999], b"4999"])
def test_minor_to_decimal_rejects_other_types(amount_minor: object) -> None:
    with pytest.raises(TypeError, match="amount_minor must be an int") as caught:
        minor_to_decimal(amount_minor, "USD")  # type: ignore[arg-type]

    assert repr(amount_minor) in str(caught.value)


@pytest.mark.parametrize("currency", ["US", "USDT", "", "U$D", "12A"])
def test_minor_to_decimal_rejects_malformed_currency_codes(currency: str) -> None:
    with pytest.raises(ValueError, match="three-letter code") as caught:
        minor_to_decimal(100, currency)

    assert repr(currency) in str(caught.value)


@pytest.mark.parametrize("currency", [None, 840, ["USD"]])
def test_minor_to_decimal_rejects_a_currency_that_is_not_text(currency: object) -> None:
    with pytest.raises(TypeError, match="three-letter code"):
        minor_to_decimal(100, currency)  # type: ignore[arg-type]


def test_currency_exponent_defaults_to_two() -> None:
    assert currency_exponent("USD") == 2
    assert currency_exponent("XYZ") == 2
    assert currency_exponent("JPY") == 0
    assert currency_exponent("KWD") == 3


# split_name -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("full_name", "expected"),
    [
        ("Jane Doe", ["Jane", "Doe"]),
        ("Jane Mary Doe", ["Jane", "Mary Doe"]),
        ("  Jane   Mary \t Doe  ", ["Jane", "Mary Doe"]),
        ("Cher", ["Cher", ""]),
        ("test", ["test", ""]),
        ("14-Jan-10:36", ["14-Jan-10:36", ""]),
        ("José  da Silva", ["José", "da Silva"]),
        ("", ["", ""]),
        ("   ", ["", ""]),
        (None, ["", ""]),
    ],
)
def test_split_name(full_name: str | None, expected: list[str]) -> None:
    assert split_name(full_name) == expected


def test_split_name_loses_no_word() -> None:
    full_name = "Maria  de los Ángeles García"

    first, last = split_name(full_name)

    assert f"{first} {last}".split() == full_name.split()


@pytest.mark.parametrize("full_name", [42, ["Jane", "Doe"], {"name": "Jane"}])
def test_split_name_rejects_non_text(full_name: object) -> None:
    with pytest.raises(TypeError, match="full_name must be a string") as caught:
        split_name(full_name)  # type: ignore[arg-type]

    assert repr(full_name) in str(caught.value)


# hubspot_date / hubspot_datetime --------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-08-04T05:30:45.182629Z", "2025-08-04T05:30:45.182Z"),
        ("2026-01-14T13:26:02.854Z", "2026-01-14T13:26:02.854Z"),
        ("2025-08-04T05:30:45.182999Z", "2025-08-04T05:30:45.182Z"),
        ("2025-08-04T05:30:45Z", "2025-08-04T05:30:45.000Z"),
        ("2025-08-04T05:30:45.182629+00:00", "2025-08-04T05:30:45.182Z"),
        ("2025-08-04T11:00:45.182+05:30", "2025-08-04T05:30:45.182Z"),
        ("2025-08-04T05:30:45.182629", "2025-08-04T05:30:45.182Z"),
        ("2025-08-04", "2025-08-04T00:00:00.000Z"),
        (1754285445, "2025-08-04T05:30:45.000Z"),
        (1754285445182, "2025-08-04T05:30:45.182Z"),
        (1754285445.5, "2025-08-04T05:30:45.500Z"),
        ("1754285445182", "2025-08-04T05:30:45.182Z"),
        (0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_hubspot_datetime(value: str | int | float, expected: str) -> None:
    assert hubspot_datetime(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-08-04T05:30:45.182629Z", "2025-08-04"),
        ("2026-02-14T13:26:02.873Z", "2026-02-14"),
        ("2025-08-04T23:30:00-05:00", "2025-08-05"),
        ("2025-08-05T02:00:00+05:30", "2025-08-04"),
        ("2025-08-04T23:59:59.999999Z", "2025-08-04"),
        (1754285445, "2025-08-04"),
        (1754285445182, "2025-08-04"),
        ("2025-08-04", "2025-08-04"),
    ],
)
def test_hubspot_date_is_the_utc_calendar_date(value: str | int, expected: str) -> None:
    assert hubspot_date(value) == expected


@pytest.mark.parametrize("value", ["", "yesterday", "2025-13-01T00:00:00Z", "04/08/2025"])
def test_hubspot_dates_reject_text_that_is_not_iso_8601(value: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601") as caught:
        hubspot_datetime(value)

    assert repr(value) in str(caught.value)
    with pytest.raises(ValueError, match="ISO 8601"):
        hubspot_date(value)


@pytest.mark.parametrize("value", [10**20, "9" * 21, float("inf"), float("nan")])
def test_hubspot_dates_reject_unusable_epoch_numbers(value: int | float | str) -> None:
    with pytest.raises(ValueError, match="epoch timestamp"):
        hubspot_datetime(value)


@pytest.mark.parametrize("value", [None, True, ["2025-08-04"], {"at": 1}])
def test_hubspot_dates_reject_other_types(value: object) -> None:
    with pytest.raises(TypeError, match="ISO 8601 timestamp or epoch number") as caught:
        hubspot_date(value)  # type: ignore[arg-type]

    assert repr(value) in str(caught.value)


# url_quote ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("jane.doe@example.com", "jane.doe%40example.com"),
        ("jane+vip@example.com", "jane%2Bvip%40example.com"),
        ("o'brien/x?y=1&z#w@example.com", "o%27brien%2Fx%3Fy%3D1%26z%23w%40example.com"),
        ("josé@exämple.com", "jos%C3%A9%40ex%C3%A4mple.com"),
        ("a-b_c.d~e", "a-b_c.d~e"),
        ("", ""),
    ],
)
def test_url_quote_encodes_all_but_unreserved_characters(value: str, expected: str) -> None:
    assert url_quote(value) == expected


def test_url_quote_rejects_non_text() -> None:
    with pytest.raises(TypeError, match="None"):
        url_quote(None)  # type: ignore[arg-type]
