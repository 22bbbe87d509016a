"""The local engine: runs an Argo Workflow manifest on this machine with Argo's semantics."""
