"""The Data section: class list, thumbnail grid, image viewer, problems, labelling."""
