"""Which parts of a text are verbatim quotes from the training library, and from where.

Three rules make a highlighted quote mean something:

- Layout-blind (`folding`): any run of white space matches any other, typographic apostrophes and quotation
  marks match straight ones, and a run of hyphens (--) matches an em dash. Case is kept. Spans and source
  offsets point into the original texts, so tooltips and links show the real passage.
- Longest first (`segment`): every position's longest match is a candidate; the longest candidates are kept
  first, a candidate wholly covered by kept ones is dropped, and a partial overlap goes to the longer one.
- Calibrated against chance (`calibration`): the default quote length is the shortest that text the library
  has never seen seldom reaches. Shorter matches are common phrases, shown faintly on request.

The modules, bottom up: `results` (the plain data handed out: Span, Source, Summary...), `folding`,
`suffix_array` (every position's longest match at once), `segment`, `calibration`, and `index` (build, save,
load, and name the books).
"""

from .calibration import CALIBRATION_CHARS, CHANCE, PASSAGE, Calibration
from .folding import fold
from .index import FORMAT, Index, StaleIndex
from .results import (
    CONTEXT,
    MAX_SOURCES,
    MIN_PHRASE,
    Figures,
    Rule,
    Source,
    SourceStats,
    Span,
    Summary,
    Tally,
    summary,
)
from .segment import Segmenter, segment_stream, select

__all__ = [
    "CALIBRATION_CHARS",
    "CHANCE",
    "CONTEXT",
    "FORMAT",
    "MAX_SOURCES",
    "MIN_PHRASE",
    "PASSAGE",
    "Calibration",
    "Figures",
    "Index",
    "Rule",
    "Segmenter",
    "Source",
    "SourceStats",
    "Span",
    "StaleIndex",
    "Summary",
    "Tally",
    "fold",
    "segment_stream",
    "select",
    "summary",
]
