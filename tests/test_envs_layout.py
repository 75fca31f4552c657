"""Layout parsing: the built-in mazes, and clear errors for malformed ones."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.pacman.layout import LayoutError, available_layouts, load_layout, parse_layout

GOOD = """\
%%%%%%
%P.oG%
%%%%%%
"""


def test_builtin_layouts_have_the_promised_sizes():
    assert {"tiny", "small", "medium", "classic"} <= set(available_layouts())
    expected = {  # name: (height, width, ghosts, has capsules)
        "tiny": (7, 7, 1, False),
        "small": (7, 20, 2, False),
        "medium": (11, 20, 2, True),
        "classic": (27, 28, 4, True),
    }
    for name, (height, width, ghosts, capsules) in expected.items():
        layout = load_layout(name)
        assert (layout.height, layout.width, layout.num_ghosts) == (height, width, ghosts)
        assert bool(layout.capsules.any()) == capsules
    assert load_layout("tiny").food.sum() == 2


def test_parse_reads_every_character():
    layout = parse_layout(GOOD)
    assert layout.pacman_start == (1, 1)
    assert layout.ghost_starts == ((1, 4),)
    assert layout.food[1, 2] and layout.capsules[1, 3]
    assert layout.walls.sum() == 6 * 2 + 2
    assert layout.to_text() == GOOD


def test_trailing_spaces_and_final_blank_lines_are_ignored():
    text = "%%%%%%   \n%P.oG%\n%%%%%%  \n\n\n"
    layout = parse_layout(text)
    assert layout.width == 6 and layout.height == 3


# Written for the classic teaching projects: their reader takes the width from the first row, and
# this file's bottom wall runs one character longer, its ghost row two. Both load unchanged.
RAGGED_CLASSIC = """\
%%%%%%%%%%%%%%%%%%%%
%......%G  G%......%
%.%%...%%  %%...%%.%
%.%o.%........%.o%.%
%.%%.%.%%%%%%.%.%%.%
%........P.........%%%
%%%%%%%%%%%%%%%%%%%%%
"""


def test_classic_files_with_longer_wall_rows_load_as_the_classic_reader_reads_them(tmp_path):
    path = tmp_path / "ragged.lay"
    path.write_text(RAGGED_CLASSIC)
    layout = load_layout(path)
    assert (layout.height, layout.width) == (7, 20)
    assert layout.walls[-1].all() and layout.walls[:, -1].all()
    assert layout.pacman_start == (5, 9) and len(layout.ghost_starts) == 2
    # What lies past the width is ignored only when it is wall: food there is refused.
    with pytest.raises(LayoutError, match=r"line 6, column 21.*walls '%' only"):
        parse_layout(RAGGED_CLASSIC.replace("%%%\n%%%%", "%.%\n%%%%"))


def test_digits_mark_ghosts_in_their_order():
    layout = parse_layout("%%%%%%%\n%P.2.1%\n%%%%%%%\n")
    assert layout.ghost_starts == ((1, 5), (1, 3))


@pytest.mark.parametrize(
    ("text", "line", "column", "words"),
    [
        ("%%%%%\n%P.x%\n%%%%%\n", 2, 4, "unknown character 'x'"),
        ("%%%%%\n%P..%\n%%%%\n", 3, 5, "wide"),
        ("%%%%%\n%P..%.\n%%%%%\n", 2, 6, "walls '%' only"),
        ("%%%%%\n%...%\n%%%%%\n", None, None, "no Pac-Man"),
        ("%%%%%%\n%P.P.%\n%%%%%%\n", 2, 4, "second Pac-Man"),
        ("%%%%%\n%P...\n%%%%%\n", 2, 5, "border"),
        ("%%%%%\n%P.. \n%%%%%\n", 2, 5, "4 characters wide"),
        ("%%% %\n%P..%\n%%%%%\n", 1, 4, "border"),
        ("%%%%%%\n%P%..%\n%%%%%%\n", 2, 4, "cannot be reached"),
        ("%%%%%\n%P..%\n\n%%%%%\n", 3, 1, "empty row"),
        ("", None, None, "empty"),
    ],
)
def test_malformed_layouts_name_file_line_and_column(text, line, column, words):
    with pytest.raises(LayoutError) as caught:
        parse_layout(text, name="maze.lay")
    error = caught.value
    assert (error.line, error.column) == (line, column)
    message = str(error)
    assert message.startswith("maze.lay")
    assert words in message
    if line is not None:
        assert f"line {line}" in message
    if column is not None:
        assert f"column {column}" in message


def test_unknown_layout_name_lists_the_available_ones():
    with pytest.raises(ValueError, match="unknown layout 'nosuchmaze'") as caught:
        load_layout("nosuchmaze")
    for name in available_layouts():
        assert name in str(caught.value)


def test_layout_files_load_by_path_and_errors_name_the_file(tmp_path):
    path = tmp_path / "mine.lay"
    path.write_text(GOOD)
    assert np.array_equal(load_layout(path).walls, parse_layout(GOOD).walls)
    assert load_layout(str(path)).name == str(path)

    broken = tmp_path / "broken.lay"
    broken.write_text("%%%%\n%P?%\n%%%%\n")
    with pytest.raises(LayoutError, match=r"broken\.lay, line 2, column 3"):
        load_layout(broken)

    with pytest.raises(FileNotFoundError, match=r"missing\.lay"):
        load_layout(tmp_path / "missing.lay")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="%%%%.oPG1 x\n", max_size=60))
def test_any_text_parses_or_raises_a_layout_error(text):
    try:
        layout = parse_layout(text)
    except LayoutError as error:
        assert str(error).startswith("<string>")
        return
    walls = layout.walls
    assert walls[0].all() and walls[-1].all() and walls[:, 0].all() and walls[:, -1].all()
    assert not walls[layout.pacman_start]
    assert not (layout.food & walls).any() and not (layout.capsules & walls).any()
