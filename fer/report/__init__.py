"""The study's report: its answers on one page, in HTML and Markdown.

The report answers the study's five questions from the files the other commands
leave in the run folders (see :mod:`fer.training.runs`):

1. the CNN: ``summary.txt``, ``curves.png``, ``metrics.json``;
2. the DNN of matched size: the same files, and the comparison with the CNN;
3. the confusion matrix and the most-confused pairs: ``eval-<split>.json`` and
   ``eval-<split>-confusion.png`` from :mod:`fer.evaluate`;
4. saliency maps and their sanity checks: ``saliency/`` from :mod:`fer.saliency`;
5. what the filters respond to: ``filters/`` from :mod:`fer.filters`;

plus the data source, the time and speed (``history.csv``) and the configuration
(``config.json``).  A piece that is not there is reported as missing, with the
command that makes it; ``--generate`` runs those commands first.

The parts:

- :mod:`fer.report.document`: the page as a list of blocks (``Heading``, ``Paragraph``,
  ``Table``, ``Figure``, ...), built once and rendered twice;
- :mod:`fer.report.sources`: the run folders given, and reading their files (``Run``);
- :mod:`fer.report.sections`: the sections that fill the page, and ``build_report``;
- :mod:`fer.report.render`: ``render_html`` (one self-contained file, its figures
  re-encoded to keep it small enough to mail) and ``render_markdown`` (images copied
  into ``<name>_files/``);
- :mod:`fer.report.__main__`: the command line, ``python -m fer.report``.

    python -m fer.train --model both --out runs/study
    python -m fer.report runs/study --generate         # -> runs/study/report.html, report.md

Nothing is imported here, so that the command's ``--help`` stays quick.
"""
