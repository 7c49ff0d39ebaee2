"""The agenda block: idempotent, keeps people's text, follows the template."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from calsync.model import AgendaBlock
from calsync.policies.agenda import agenda_url

URL = "https://docs.example.com/1on1/maria-dev"
BLOCK = AgendaBlock(URL).text
BEGIN = AgendaBlock.BEGIN


def render_block(url: str) -> str:
    return AgendaBlock(url).text


def with_block(description: str, block: str) -> str | None:
    return AgendaBlock.from_text(block).applied_to(description)


def has_block(description: str, block: str) -> bool:
    return AgendaBlock.from_text(block).is_in(description)


strip_block = AgendaBlock.strip


def test_a_rendered_block_reads_back_as_the_same_block():
    assert AgendaBlock.from_text(BLOCK) == AgendaBlock(URL)
    assert AgendaBlock(URL).digest == AgendaBlock(URL).digest != AgendaBlock(URL + "x").digest


def test_block_is_appended_and_people_text_kept():
    text = "Topics:\n- promotion case\n- on-call load"
    updated = with_block(text, BLOCK)
    assert updated == text + "\n\n" + BLOCK
    assert strip_block(updated) == text


def test_applying_twice_changes_nothing():
    once = with_block("notes", BLOCK)
    assert with_block(once, BLOCK) is None
    assert has_block(once, BLOCK)


def test_empty_description_gets_just_the_block():
    assert with_block("", BLOCK) == BLOCK


def test_new_template_replaces_the_block_instead_of_adding_one():
    once = with_block("notes", BLOCK)
    other = render_block("https://notion.so/maria-dev")
    updated = with_block(once, other)
    assert updated.count(BEGIN) == 1
    assert "notion.so" in updated and URL not in updated
    assert strip_block(updated) == "notes"


def test_url_template_placeholders():
    url = agenda_url("https://wiki/{pair}?m={manager}&r={report}&n={report_name}",
                     "maria@example.com", "dev@example.com", "Maria", "Dev")
    assert url == "https://wiki/maria-dev?m=maria@example.com&r=dev@example.com&n=Dev"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200))
def test_any_description_is_kept_exactly_and_never_grows(text):
    assume(BEGIN not in text)  # a description already carrying a block is another test
    once = with_block(text, BLOCK)
    assert once is not None
    assert strip_block(once) == text
    assert with_block(once, BLOCK) is None


def test_trailing_carriage_return_is_kept():
    """Found by hypothesis: a too-loose separator pattern ate the user's last \\r."""
    for text in ("notes\r", "notes\n", "notes<br>", "notes\r\n"):
        once = with_block(text, BLOCK)
        assert strip_block(once) == text
        assert with_block(once, BLOCK) is None
