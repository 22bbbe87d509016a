"""Exceptions raised by nbflow, all rooted at :class:`NbflowError`."""

from __future__ import annotations


class NbflowError(Exception):
    """Root of every error nbflow raises on purpose."""


class SpecError(NbflowError, ValueError):
    """A user error in a pipeline definition: magic arguments, DSL, names, wiring.

    Parameters
    ----------
    message : str
        What is wrong, in the user's words.
    where : str, optional
        Where the problem is, e.g. ``"cell 4"`` or ``"workflow nightly"``.
    line, col : int, optional
        1-based line and column inside ``where``.
    """

    def __init__(
        self,
        message: str,
        where: str | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        super().__init__(message, where, line, col)
        self.message = message
        self.where = where
        self.line = line
        self.col = col

    def __str__(self) -> str:
        parts = [p for p in (self.where,) if p]
        if self.line is not None:
            parts.append(
                f"line {self.line}" + (f", column {self.col}" if self.col is not None else "")
            )
        return f"{', '.join(parts)}: {self.message}" if parts else self.message


class CycleError(SpecError):
    """The task graph has a cycle; ``path`` lists it, first task repeated at the end."""

    def __init__(self, path: list[str], where: str | None = None) -> None:
        super().__init__("dependency cycle: " + " >> ".join(path), where)
        self.path = path
        self.args = (path, where)  # so that pickling rebuilds it with this signature


class ManifestError(SpecError):
    """A workflow manifest that nbflow cannot read or run."""


class RunNotFound(NbflowError, LookupError):
    """No run with the given id is in the run store."""


class StorageError(NbflowError, OSError):
    """Reading or writing an artifact failed."""


class MarshalError(NbflowError, TypeError):
    """A value could not be saved as an artifact (or loaded back)."""


class RunStateError(NbflowError):
    """The run's state does not allow the action: it runs when it must not, or the reverse."""
