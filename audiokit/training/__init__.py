"""Training: validation splits and run reports shared by every kind, the scikit-learn trainer,
and the PyTorch engine.

Modules
-------
:mod:`audiokit.training.splits`   stratified, seeded, group-aware train/validation/CV/test splits
:mod:`audiokit.training.report`   fold scores, mean ± std, the report JSON beside the model
:mod:`audiokit.training.classic`  ``train --model knn|svm|mlp|logreg`` (scikit-learn)
:mod:`audiokit.training.deep`     ``train --model resnet18|…|specresnet`` (PyTorch engine)

Nothing heavy is imported here: the deep engine pulls in torch only when used.
"""
