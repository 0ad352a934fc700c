"""Errors whose message is meant for the person using the app, in plain words."""


class UserError(Exception):
    """Something the user can fix (a missing folder, a bad number, a broken file).

    The message is shown as it is: one or two sentences a non-programmer can act on.
    The CLI prints it on one line and exits with status 2; the GUI shows it in a dialog.
    """
