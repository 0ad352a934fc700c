"""The undo commands and the suggestion bar know the session and the browser only through protocols
(so the imports run one way): the real session and browser must offer everything those ask for."""

from __future__ import annotations

from cnnstudio.gui.commands import EditSession, LabelCommand
from cnnstudio.gui.data.suggestions import SuggestionHost


def _members(protocol) -> set[str]:
    names = set(getattr(protocol, "__annotations__", {}))
    names |= {n for n, v in vars(protocol).items() if callable(v) and not n.startswith("__")}
    return names


def test_the_session_and_the_browser_offer_what_their_protocols_ask(open_browser):
    session, browser, _data = open_browser()
    assert _members(EditSession) >= {"project", "index", "labels", "edit_applied", "schedule_save"}
    for name in _members(EditSession):
        assert hasattr(session, name), f"ProjectSession has no {name}, which the undo commands use"
    assert _members(SuggestionHost) >= {"session", "model", "grid", "show_filter"}
    for name in _members(SuggestionHost):
        assert hasattr(browser, name), f"DatasetBrowser has no {name}, which the suggestion bar uses"


def test_a_label_command_from_the_shared_module_applies_and_undoes(open_browser):
    session, _browser, _data = open_browser()
    path = session.index.samples[0].path
    before = session.index.samples[0].label
    session.apply_edit(session.labels.assign([path], "zebra"))
    command = session.undo_stack.command(session.undo_stack.count() - 1)
    assert isinstance(command, LabelCommand)
    assert session.labels.sample(path).label == "zebra"
    session.undo_stack.undo()
    assert session.labels.sample(path).label == before
