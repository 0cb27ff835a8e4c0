"""Project Gutenberg: catalog search, polite downloads and boilerplate-free texts.

Public API:
    load_catalog(source=None, cache=None, refresh=False) -> Catalog   cached a week under cache_root()/gutenberg
    search(catalog, spec=None, *, author, title, language, subject, bookshelf, ids, include_all_types) -> Books
    Books                the search results: a list of Book, shown as a table in Jupyter
    Book                 id, title, authors, language, subjects, bookshelves, type, issued; .author (short), .url
    Catalog              len(), iteration over Books, .get(book_id) -> Book | None
    short_author(name)   "Brontë, Charlotte, 1816-1855; …" -> "Brontë, Charlotte"
    book_text(book_id, source=None, cache=None) -> str   cleaned text, downloaded and cached on first use
    download(book_id, source=None, cache=None) -> Path   the same, returning the cached file
    book_path(book_id, cache=None) -> Path               where that cached file is (or will be)
    bulk.fetch(ids, source=None, cache=None, jobs=4)     many books: cached ones skipped, failures collected
    clean(data, name) -> str                              decode bytes and strip header, footer and credits
    Mirror, resolve_mirror(source)                        a URL or local mirror directory, with its politeness

`source` is a URL or a local directory (a copy of gutenberg.org's layout or a classic rsync mirror); None means
$POET_GUTENBERG_URL or https://www.gutenberg.org/. `cache` None means $POET_CACHE or the user cache dir.
"""

from .catalog import Book, Books, Catalog, load_catalog, search, short_author
from .clean import clean
from .fetch import Mirror, book_path, book_text, download, resolve_mirror

__all__ = [
    "Book",
    "Books",
    "Catalog",
    "Mirror",
    "book_path",
    "book_text",
    "clean",
    "download",
    "load_catalog",
    "resolve_mirror",
    "search",
    "short_author",
]
