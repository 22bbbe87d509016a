"""Argo Workflows: compile pipelines to manifests, read manifests, evaluate Argo expressions."""
