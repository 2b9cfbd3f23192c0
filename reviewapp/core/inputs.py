"""One definition of a settings form's input, for its page and its API alike.

An ``Input`` is a DRF serializer whose fields take JSON values strictly (a number is a number,
not a string of digits) and refuse in the words the manager reads. The API gives it the request's
JSON; a page gives it the text typed into its boxes, which each field turns into a value first
(``Input.from_form``), so both are checked by the same rules and answer with the same messages.
Services check their own arguments with the same ``Input`` too: a call from code is refused as a
request would be, and the rules that need the database's state stay in the service.
"""

from collections.abc import Mapping
from typing import Any, ClassVar

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import SkipField, empty

from reviewapp.core.accounts.validators import MAX_CAP, cap_errors, tags_errors
from reviewapp.core.errors import InvalidRequest
from reviewapp.core.untrusted import text_problem, whole_number

Errors = dict[str, list[str]]


def flat_errors(detail: Any, prefix: str = "") -> Errors:
    """A nested error detail as ``{"working_hours.mon": ["..."]}``."""
    if isinstance(detail, Mapping):
        flat: Errors = {}
        for key, value in detail.items():
            flat.update(flat_errors(value, f"{prefix}.{key}" if prefix else str(key)))
        return flat
    if isinstance(detail, list) and detail and all(isinstance(v, Mapping | list) for v in detail):
        flat = {}
        for index, value in enumerate(detail):
            flat.update(flat_errors(value, f"{prefix}.{index}" if prefix else str(index)))
        return flat
    messages = detail if isinstance(detail, list) else [detail]
    return {prefix or "non_field_errors": [str(message) for message in messages]}


@extend_schema_field(OpenApiTypes.ANY)
class Checked(serializers.Field):
    """A field that checks every value it is given, a missing or null one included.

    ``missing`` is the value of a field left out (else it is required); a partial input
    (``partial=True``) leaves it out instead.
    """

    def __init__(self, *, missing: Any = empty, **kwargs: Any) -> None:
        self.missing = missing
        super().__init__(required=missing is empty, allow_null=True, **kwargs)

    def validate_empty_values(self, data: Any) -> tuple[bool, Any]:
        if data is empty:
            if getattr(self.root, "partial", False):
                raise SkipField
            if self.missing is empty:
                self.fail("required")
            data = self.missing
        return False, data

    def to_internal_value(self, data: Any) -> Any:
        return data

    def to_representation(self, value: Any) -> Any:
        return value

    def from_text(self, text: str) -> Any:
        """What a page's box holds, as the value this field checks (text it cannot read stays
        text, so that the field's own message explains what is wrong)."""
        return text


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@extend_schema_field(OpenApiTypes.INT)
class WholeNumber(Checked):
    """A whole number from ``minimum`` (to ``maximum``); ``optional``: ``None`` is allowed too
    (typed as an empty box)."""

    def __init__(
        self,
        *,
        minimum: int,
        message: str,
        maximum: int | None = None,
        too_big: str = "",
        optional: bool = False,
        **kwargs: Any,
    ) -> None:
        self.minimum, self.maximum, self.optional = minimum, maximum, optional
        self.message, self.too_big = message, too_big or message
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data is None and self.optional:
            return None
        if not _whole(data) or data < self.minimum:
            raise serializers.ValidationError(self.message)
        if self.maximum is not None and data > self.maximum:
            raise serializers.ValidationError(self.too_big)
        return data

    def from_text(self, text: str) -> Any:
        if not text and self.optional:
            return None
        try:
            return int(text)
        except ValueError:
            return text


class Cap(WholeNumber):
    """A cap on open claims: 1 to ``MAX_CAP``, or nothing for no cap."""

    def __init__(self, **kwargs: Any) -> None:
        (message,) = cap_errors(0)
        super().__init__(minimum=1, maximum=MAX_CAP, message=message, optional=True, **kwargs)


@extend_schema_field(OpenApiTypes.NUMBER)
class Number(Checked):
    """A finite number (whole or not) from ``minimum`` to ``maximum``."""

    def __init__(self, *, minimum: float, maximum: float, message: str, **kwargs: Any) -> None:
        self.minimum, self.maximum, self.message = minimum, maximum, message
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if (
            not isinstance(data, int | float)
            or isinstance(data, bool)
            or not self.minimum <= data <= self.maximum  # NaN compares false: refused too
        ):
            raise serializers.ValidationError(self.message)
        return data

    def from_text(self, text: str) -> Any:
        for kind in (int, float):
            try:
                return kind(text)
            except ValueError:
                pass
        return text


@extend_schema_field(OpenApiTypes.STR)
class Text(Checked):
    """Text, trimmed; ``blank``: whether an empty one is allowed."""

    def __init__(self, *, message: str, blank: bool = True, **kwargs: Any) -> None:
        self.message, self.blank = message, blank
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str) or not (self.blank or data.strip()):
            raise serializers.ValidationError(self.message)
        problem = text_problem(data)
        if problem is not None:
            raise serializers.ValidationError(problem)
        return data.strip()


@extend_schema_field(OpenApiTypes.STR)
class Choice(Checked):
    """One of ``choices`` (a TextChoices class)."""

    def __init__(self, *, choices: Any, **kwargs: Any) -> None:
        self.values = list(choices.values)
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data not in self.values:
            raise serializers.ValidationError(f"Choose one of {', '.join(self.values)}.")
        return data


@extend_schema_field({"type": "array", "items": {"type": "string"}})
class Tags(Checked):
    """Skill or language tags: short lower-case names, typed as "billing, refunds"."""

    def __init__(self, *, what: str, **kwargs: Any) -> None:
        self.what = what
        super().__init__(**kwargs)

    def to_internal_value(self, data: Any) -> Any:
        tags, messages = tags_errors(data, self.what)
        if messages:
            raise serializers.ValidationError(messages)
        return tags

    def from_text(self, text: str) -> Any:
        # A space inside a name stays, and is refused.
        return [part.strip() for part in text.split(",") if part.strip()]


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string"}], "nullable": True})
class Reference(Checked):
    """An object among those the caller may choose: ``context[<field name>]``, a queryset.

    Named by its id, or by ``name_key`` (e.g. a username) when given as text. ``None`` or an
    empty box chooses nothing. Code passes the object itself, having chosen it already.
    """

    def __init__(self, *, model: Any, message: str, name_key: str = "", **kwargs: Any) -> None:
        self.model, self.message, self.name_key = model, message, name_key
        super().__init__(missing=None, **kwargs)

    def to_internal_value(self, data: Any) -> Any:
        if data is None or isinstance(data, self.model):
            return data
        choices = self.context.get(self.field_name or "")
        key = "pk" if _whole(data) else self.name_key if isinstance(data, str) else ""
        chosen = choices.filter(**{key: data}).first() if choices is not None and key else None
        if chosen is None:
            raise serializers.ValidationError(self.message)
        return chosen

    def from_text(self, text: str) -> Any:
        number = whole_number(text)
        return None if not text else number if number is not None else text


class Input(serializers.Serializer):
    """The fields of one input, checked all at once, plus rules across fields (``check``).

    Unknown fields are refused with ``unknown_field``; refusals raise ``refusal`` with the
    errors of every field (``{"working_hours.mon": [...]}`` for a nested one).
    """

    refusal: ClassVar[type[InvalidRequest]] = InvalidRequest
    unknown_field: ClassVar[str] = "Not a field here."

    def to_internal_value(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError({"non_field_errors": ["Send a JSON object."]})
        errors: dict[str, Any] = {
            name: [self.unknown_field] for name in sorted(set(data) - set(self.fields))
        }
        values: dict[str, Any] = {}
        for name, field in self.fields.items():
            try:
                values[name] = field.run_validation(field.get_value(data))
            except serializers.ValidationError as refused:
                errors[name] = refused.detail
            except SkipField:
                pass
        self.check(values, errors)
        self.passed = values
        if errors:
            raise serializers.ValidationError(errors)
        return values

    def check(self, values: dict[str, Any], errors: dict[str, Any]) -> None:
        """Rules across fields: add to ``errors``; ``values`` holds the fields that passed."""

    @classmethod
    def errors_of(cls, data: Any, *, partial: bool = False, **context: Any) -> tuple[dict, Errors]:
        """``(values, errors)``: for a service that adds errors of its own before refusing."""
        checked = cls(data=data, partial=partial, context=context)
        if checked.is_valid():
            return dict(checked.validated_data), {}
        return getattr(checked, "passed", {}), flat_errors(checked.errors)

    @classmethod
    def checked(cls, data: Any, *, partial: bool = False, **context: Any) -> dict[str, Any]:
        """The values of ``data``, or ``refusal`` with every field's errors."""
        values, errors = cls.errors_of(data, partial=partial, **context)
        if errors:
            raise cls.refusal(errors)
        return values

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> dict[str, Any]:
        """The values a page's form holds, by each field's ``from_text``, for ``checked``."""
        fields = cls().fields
        return {
            name: field.from_text(form[name].strip())
            for name, field in fields.items()
            if name in form and isinstance(field, Checked)
        }
