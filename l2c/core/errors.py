"""Errors every app raises. The API turns them into RFC 9457 problem details, the UI shows them
beside the field they concern.

Each error carries a machine `code`, a message a person understands and, where it concerns one,
the `field`. `ValidationFailed` carries several field errors at once.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class FieldError:
    field: str
    message: str
    code: str = "invalid"

    def as_dict(self) -> dict:
        return {"field": self.field, "message": str(self.message), "code": self.code}


class DomainError(Exception):
    """A business rule refused the request. 400 unless a subclass says otherwise."""

    status = 400
    code = "invalid"
    title = "The request breaks a business rule"

    def __init__(self, message: str, *, code: str | None = None, field: str | None = None):
        super().__init__(message)
        self.message = str(message)
        if code:
            self.code = code
        self.field = field

    @property
    def errors(self) -> list[FieldError]:
        return [FieldError(self.field, self.message, self.code)] if self.field else []


class ValidationFailed(DomainError):
    """One or more fields are invalid."""

    status = 422
    code = "validation_failed"
    title = "Some fields are invalid"

    def __init__(self, errors: list[FieldError], message: str | None = None):
        self._errors = list(errors)
        summary = message or "; ".join(f"{e.field}: {e.message}" for e in self._errors)
        super().__init__(summary)

    @property
    def errors(self) -> list[FieldError]:
        return self._errors

    @classmethod
    def single(cls, field: str, message: str, code: str = "invalid") -> ValidationFailed:
        return cls([FieldError(field, message, code)])


class NotFound(DomainError):
    status = 404
    code = "not_found"
    title = "Not found"


class PermissionDenied(DomainError):
    status = 403
    code = "permission_denied"
    title = "Not allowed"


class Conflict(DomainError):
    status = 409
    code = "conflict"
    title = "Conflict"


class InvalidTransition(Conflict):
    """A state change that is not allowed from the record's current state."""

    code = "invalid_transition"
    title = "This change is not allowed from the current state"


def from_django_validation_error(exc) -> ValidationFailed:
    """Convert Django's ValidationError (from full_clean) into our field errors."""
    errors: list[FieldError] = []
    if hasattr(exc, "error_dict"):
        for field, items in exc.error_dict.items():
            for item in items:
                message = item.message % item.params if item.params else item.message
                errors.append(FieldError(field if field != "__all__" else "__all__", str(message), item.code or "invalid"))
    else:
        for item in exc.error_list:
            message = item.message % item.params if item.params else item.message
            errors.append(FieldError("__all__", str(message), item.code or "invalid"))
    return ValidationFailed(errors)
