"""The Data section: class list, thumbnail grid, image viewer, problems, labelling.

`DataSection` (section.py) is the widget the window mounts, the browser of browser.py
(`DatasetBrowser`) whose background work (writing labels to folders, suggesting labels, checking
training labels) is controller.py; `python -m cnnstudio.gui.data` previews it.
"""
