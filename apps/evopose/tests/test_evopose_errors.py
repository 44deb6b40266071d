"""The one helper that quotes a library error in a one-line message."""

from evopose.errors import first_line


def test_first_line_is_the_first_non_blank_line_of_the_message():
    error = ValueError("\n  bad shape (3, 4)  \nTraceback details\n")
    assert first_line(error) == "bad shape (3, 4)"


def test_an_error_without_a_message_is_named_by_its_class():
    assert first_line(OSError()) == "OSError"
    assert first_line(ValueError("  \n ")) == "ValueError"
