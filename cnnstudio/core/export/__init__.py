"""Export, import and predict: models that predict outside the app exactly what they predict inside.

from cnnstudio.core.export import export_run, load_model, Predictor
result = export_run(project, "onnx", "out/flowers.onnx")   # written, loaded back, verified
print(result.message)  # "ONNX verified on 1,500 validation images: same class for all, largest difference 2e-7"
predictor = Predictor(load_model("flowers.cnnmodel"), threshold=0.5)
table = predictor.predict(["new_photos/"])                 # PredictionResult: .predictions, .problems

Formats: a .cnnmodel bundle (bundle.py), ONNX (onnx_export.py) and TorchScript
(torchscript_export.py); each carries the preprocessing and class names (metadata.py). Exported
ONNX and TorchScript models output probabilities (the softmax is inside).
"""

from cnnstudio.core.export.bundle import Bundle, bundle_weights_for_init, read_bundle
from cnnstudio.core.export.bundle_write import write_bundle
from cnnstudio.core.export.card import model_card
from cnnstudio.core.export.inputs import collect_images
from cnnstudio.core.export.job import FORMATS, ExportResult, export_model, export_run, output_path
from cnnstudio.core.export.loaded import LoadedModel, load_model, load_run
from cnnstudio.core.export.metadata import CLASSES_KEY, PREPROCESSING_KEY
from cnnstudio.core.export.onnx_export import read_onnx_metadata, write_onnx
from cnnstudio.core.export.predictor import Predictor
from cnnstudio.core.export.results import UNKNOWN, Prediction, PredictionProblem, PredictionResult
from cnnstudio.core.export.sorting import sort_into
from cnnstudio.core.export.torchscript_export import load_torchscript, write_torchscript
from cnnstudio.core.export.verify import TOLERANCE, VerificationResult, compare, verify_export

__all__ = [
    "CLASSES_KEY",
    "FORMATS",
    "PREPROCESSING_KEY",
    "TOLERANCE",
    "UNKNOWN",
    "Bundle",
    "ExportResult",
    "LoadedModel",
    "Prediction",
    "PredictionProblem",
    "PredictionResult",
    "Predictor",
    "VerificationResult",
    "bundle_weights_for_init",
    "collect_images",
    "compare",
    "export_model",
    "export_run",
    "load_model",
    "load_run",
    "load_torchscript",
    "model_card",
    "output_path",
    "read_bundle",
    "read_onnx_metadata",
    "sort_into",
    "verify_export",
    "write_bundle",
    "write_onnx",
    "write_torchscript",
]
