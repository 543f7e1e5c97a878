"""The show's action table covers exactly the actions the configs may name."""

from vj.show.actions import ACTION_TABLE
from vj.vocabulary import ACTIONS, TEXT_ACTIONS


def test_every_declared_action_has_a_handler_and_nothing_else_does():
    assert set(ACTION_TABLE) == set(ACTIONS)
    assert all(callable(handler) for handler in ACTION_TABLE.values())


def test_each_text_action_rewrites_its_own_prompt():
    class Book:
        def __init__(self) -> None:
            self.set: list[tuple[int, str]] = []

        def set_text(self, number: int, text: str) -> None:
            self.set.append((number, text))

    class Show:
        prompts = Book()

    show = Show()
    for name in TEXT_ACTIONS:
        ACTION_TABLE[name](show, "glass city")  # type: ignore[arg-type]
    assert show.prompts.set == [(i, "glass city") for i in range(1, len(TEXT_ACTIONS) + 1)]
