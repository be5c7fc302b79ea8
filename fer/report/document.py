"""The report as a document: a list of blocks, built once and rendered twice.

Each block is a plain dataclass that says what it is, not how it looks:
:class:`Heading`, :class:`Paragraph`, :class:`Bullets`, :class:`Note`, :class:`Table`,
:class:`Code` and :class:`Figure`.  :mod:`fer.report.sections` fills a document from
the run folders, grouped in :class:`Section` s; :mod:`fer.report.render` writes it as
HTML and as Markdown.  Text in any block may mark code with `backticks`.
"""
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str  # `backticks` mark code, in both renderings


@dataclass
class Bullets:
    items: list


@dataclass
class Note:
    """A boxed remark: ``kind`` "warning" (synthetic data) or "missing"."""
    kind: str
    text: str


@dataclass
class Table:
    header: list
    rows: list


@dataclass
class Code:
    text: str


@dataclass
class Figure:
    path: Path     # the PNG in the run folder
    name: str      # its file name in the Markdown's image folder
    caption: str


def missing(what, command=None):
    """A missing piece, with the command that would produce it."""
    fix = f" Make it with `{command}`, or rerun this report with `--generate`." if command else ""
    return Note("missing", f"{what}.{fix}")


@dataclass
class Section:
    """One numbered part of the report; ``answer`` is its one-line summary for the overview."""
    title: str
    answer: str
    blocks: list = field(default_factory=list)
