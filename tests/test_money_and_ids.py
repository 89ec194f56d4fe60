from decimal import Decimal

import pytest

from offerhub.auth import keys
from offerhub.core.errors import InvalidAmount
from offerhub.core.ids import looks_like, new_id
from offerhub.core.money import format_amount, parse_amount


@pytest.mark.parametrize("text,expected", [("100.00", "100.00"), ("0.01", "0.01"), ("1000000000.00", "1000000000.00")])
def test_amounts_parse_to_exact_decimals(text, expected):
    amount = parse_amount(text)
    assert isinstance(amount, Decimal)
    assert format_amount(amount) == expected


@pytest.mark.parametrize(
    "bad",
    [1.5, 100, None, "1.001", "1.0", "1", ".50", "-1.00", "0.00", "01.00", "1e5", "NaN", "Infinity",
     "1000000000.01", "99999999999999999999.00", "１.00", " 1.00", "1,00", "1.00\n"],
)
def test_amounts_refuse_floats_and_malformed_text(bad):
    with pytest.raises(InvalidAmount):
        parse_amount(bad)


def test_ids_have_prefix_and_32_alphanumerics():
    value = new_id("usr")
    assert looks_like(value, "usr")
    assert not looks_like(value, "ord")
    assert len(value) == 4 + 32 and value[4:].isalnum()
    assert new_id("usr") != value


def test_id_characters_are_equally_likely():
    """All 62 characters, each within 10% of its share over 320,000 draws (seven standard deviations)."""
    from collections import Counter

    drawn = Counter("".join(new_id("evt")[4:] for _ in range(10_000)))
    share = 320_000 / 62
    assert len(drawn) == 62 and all(abs(n - share) < 0.1 * share for n in drawn.values()), drawn


def test_api_key_is_hashed_and_parsable():
    issued = keys.issue("live")
    assert issued.token.startswith(f"ohk_live_{issued.key_id}_")
    assert keys.key_id_of(issued.token) == issued.key_id
    assert issued.token not in issued.secret_hash
    assert keys.matches(issued.token, issued.secret_hash)
    assert not keys.matches(issued.token[:-1] + ("0" if issued.token[-1] != "0" else "1"), issued.secret_hash)
    assert keys.key_id_of("ohk_live_key_short_abc") is None
