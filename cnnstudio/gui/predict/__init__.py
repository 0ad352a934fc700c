"""The Predict section: what a trained model says about new pictures (a table, a CSV, class folders)."""
