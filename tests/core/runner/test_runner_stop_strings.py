"""Stop strings over streamed text: cut exactly, never emit a possible prefix."""

from odyssai.runner.stopping import StopStrings


def feed_all(stops, pieces):
    s = StopStrings(stops)
    out, hit = [], False
    for p in pieces:
        text, hit = s.feed(p)
        out.append(text)
        if hit:
            break
    if not hit:
        out.append(s.flush())
    return out, hit


def test_text_is_cut_just_before_a_stop_string_split_over_pieces():
    out, hit = feed_all(["END"], ["hello E", "N", "D and more"])
    assert hit and "".join(out) == "hello "


def test_a_possible_prefix_of_a_stop_string_is_held_back():
    s = StopStrings(["###"])
    assert s.feed("abc#") == ("abc", False)
    assert s.feed("#") == ("", False)
    assert s.feed("x") == ("##x", False)


def test_the_earliest_of_several_stop_strings_wins():
    out, hit = feed_all(["world", "lo w"], ["hello world"])
    assert hit and "".join(out) == "hel"


def test_held_back_text_comes_out_when_the_output_ends_without_a_stop():
    out, hit = feed_all(["STOP"], ["a ST", "O"])
    assert not hit and "".join(out) == "a STO" and out[-1] == "STO"


def test_without_stop_strings_everything_passes_at_once():
    s = StopStrings([])
    assert s.feed("any text") == ("any text", False)


def test_empty_stop_strings_are_ignored():
    s = StopStrings([""])
    assert s.feed("abc") == ("abc", False)
