from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError

from reviewapp.core.untrusted import shown


def _paths(error: ValidationError) -> list[str]:
    """Where an error belongs: the offending field itself, not its parent object."""
    parent = [str(part) for part in error.absolute_path]
    if error.validator == "required":
        # "'subject' is a required property": reported on the parent; name the field.
        return [".".join([*parent, error.message.split("'")[1]])]
    if error.validator == "additionalProperties" and isinstance(error.instance, dict):
        allowed = set(error.schema.get("properties", {}))
        return [".".join([*parent, name]) for name in error.instance if name not in allowed]
    return [".".join(parent) or "non_field_errors"]


def _message(error: ValidationError) -> str:
    """jsonschema's message, quoting at most the start of a long refused value."""
    quoted = repr(error.instance)
    return error.message.replace(quoted, shown(quoted)) if len(quoted) > 80 else error.message


def schema_errors(schema: dict, instance: object) -> dict[str, list[str]]:
    """Field-level messages for ``instance`` against ``schema``; empty when it is valid."""
    errors: dict[str, list[str]] = {}
    for error in sorted(Draft202012Validator(schema).iter_errors(instance), key=str):
        message = (
            "This field is not allowed."
            if error.validator == "additionalProperties"
            else "This field is required."
            if error.validator == "required"
            else _message(error)
        )
        for path in _paths(error):
            errors.setdefault(path or "non_field_errors", []).append(message)
    return errors
