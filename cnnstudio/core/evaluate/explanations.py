"""What each metric means, in plain words (no imports: the GUI reads them before anything heavy)."""

# One line each, for a person who has never seen these words; the GUI shows them as tooltips.
METRIC_EXPLANATIONS: dict[str, str] = {
    "accuracy": "Accuracy: of all the pictures, how many the model labelled correctly.",
    "precision": "Precision: of the pictures the model called 'cat', how many really were cats.",
    "recall": "Recall: of the pictures that really were cats, how many the model found.",
    "f1": "F1: one number that balances precision and recall (high only when both are high).",
    "support": "Pictures (support): how many pictures of this class there were to check.",
    "macro": "Average, each class equal (macro average): every class counts the same, however many pictures it has.",
    "weighted": "Average, weighted by pictures: classes with more pictures count for more.",
    "loss": "Loss: how wrong the model was about one picture; 0 is perfectly sure and right.",
    "confusion": "Confusion matrix: rows are the real classes, columns what the model said.",
    "label_issues": "Likely label errors: pictures whose label the model strongly doubts; worth a look.",
}
