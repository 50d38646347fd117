"""Resource models and validation: the shape of every edgeplane object.

Belongs here: pydantic v2 models for each kind, metadata, Kubernetes naming and label
rules, quantities, label selectors, and the kind registry. No I/O, and nothing else of
edgeplane is imported here.
"""
