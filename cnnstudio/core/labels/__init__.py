"""Labels: undoable label and class edits, re-splitting, and writing labels to folders with a journal.

One module per job; import each name from the module that holds it:

- edits.py: `LabelEditor` builds, applies and reverts `LabelEdit`s (incl. accepted suggestions).
- resplit.py: `resplit` draws a new seeded split; `fill_missing_splits` splits images labelled in the app.
- folders.py: `plan_write`, `write_labels`, `undo_write`: copy or move images into class folders.
- journal.py: the undo journal of copies and moves, shared with Predict's "Move into class folders".
"""
