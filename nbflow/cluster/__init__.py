"""Kubernetes backend: submit compiled workflows to Argo, follow, stop, retry and resume them.

Nothing here imports ``kubernetes`` at module level (its import costs seconds): the client
loads it when it first talks to a cluster.
"""
