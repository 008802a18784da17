"""Everything a model wrote is text in the packet: escaped in HTML, inert in Markdown."""

from __future__ import annotations

import pytest

from evalkit.report.packet_markdown import md_text
from packet_runs import IMG, MARKDOWN, SCRIPT, TEMPLATE, hostile_packet


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile")
    packet = hostile_packet(folder)
    return packet, (folder / "packet" / "packet.html").read_text(), (folder / "packet" / "packet.md").read_text()


def test_the_hostile_outputs_reach_the_packet_as_written(written):
    packet, _, _ = written
    outputs = {o["output"] for case in packet["cases"] for o in case["outputs"]}
    assert {SCRIPT, IMG, TEMPLATE, MARKDOWN} <= outputs


@pytest.mark.parametrize("raw, escaped", [
    (SCRIPT, "&lt;script&gt;document.title=&#39;pwned&#39;&lt;/script&gt;"),
    (IMG, "&lt;img src=x onerror=&#34;document.title=&#39;pwned&#39;&#34;&gt;"),
])
def test_html_escapes_markup_in_model_output(written, raw, escaped):
    _, html, _ = written
    assert raw not in html and escaped in html


def test_html_has_no_script_or_image_element(written):
    _, html, _ = written
    assert "<script" not in html and "<img" not in html and "onerror=\"" not in html


def test_html_shows_template_syntax_literally(written):
    _, html, _ = written
    assert "{{ 7 * 7 }} {% if true %}yes{% endif %}" in html and "{{ secret }}" in html


def test_html_escapes_markup_in_case_inputs(written):
    _, html, _ = written
    assert "<b>bold</b>" not in html and "&lt;b&gt;bold&lt;/b&gt;" in html


def test_markdown_has_no_raw_markup_from_model_output(written):
    _, _, md = written
    for raw in ("<script", "<img", "<b>"):
        assert raw not in md
    assert "&lt;script&gt;document.title='pwned'&lt;/script&gt;" in md


def test_markdown_leaves_no_template_tag_for_a_downstream_engine(written):
    _, _, md = written
    assert "{{" not in md and "{%" not in md
    assert "&#123;&#123; 7 \\* 7 &#125;&#125; &#123;% if true %&#125;yes&#123;% endif %&#125;" in md


def test_markdown_escapes_backticks_pipes_links_and_math(written):
    _, _, md = written
    assert "\\`rm -rf /\\` \\| \\[click\\](javascript:alert(1)) \\*\\*loud\\*\\* \\$x\\$" in md
    row = next(line for line in md.splitlines() if line.startswith("| base |") and "rm -rf" in line)
    assert row.replace("\\|", "").count("|") == 4  # route | label | output: the output's pipe does not open a column


@pytest.mark.parametrize("text, expected", [
    ("a & b < c > d", "a &amp; b &lt; c &gt; d"),
    ("line one\nline two", "line one<br>line two"),
    ("{{ x }}", "&#123;&#123; x &#125;&#125;"),
    ("a|b`c`", "a\\|b\\`c\\`"),
])
def test_md_text_makes_text_inert(text, expected):
    assert md_text(text) == expected
