from torch_poet.attribution import Source, Span, summary


def test_summary_counts_per_book_in_order_of_first_appearance():
    def quote(start, text, *keys):
        return Span(start, start + len(text), text, tuple(Source(k, k.upper(), "", None, 0) for k in keys), len(keys))

    spans = [Span(0, 4, "abcd"), quote(4, "efghij", "b", "a"), Span(10, 12, "kl"), quote(12, "mnop", "a", "a")]
    s = summary(spans)
    assert (s.chars, s.quoted_chars, s.quotes, s.fraction) == (16, 10, 2, 10 / 16)
    assert (s.longest_chars, s.longest_text) == (6, "efghij")
    assert [(x.key, x.quotes, x.chars) for x in s.sources] == [("b", 1, 6), ("a", 2, 10)]
    assert summary([]).fraction == 0 and summary([]).longest_text == ""
