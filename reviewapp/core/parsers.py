"""The API's JSON parser: refuses, with a 400 naming the place, what PostgreSQL could not store.

DRF's own parser turns ``"\\u0000"`` and ``"\\ud800"`` into Python text that jsonb and UTF-8 refuse
later, inside the transaction (a 500), reads ``1e400`` as infinity, and lets a deeply nested body
overflow the decoder's recursion. This one checks the decoded body once, before any view sees it.
"""

import codecs
import json
from typing import Any

from django.conf import settings
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.parsers import JSONParser, get_encoding  # type: ignore[attr-defined]
from rest_framework.utils.json import strict_constant

from reviewapp.core.untrusted import json_problems, shown


class PayloadTooLarge(APIException):
    # Here rather than in core.api: DRF imports this module while core.api imports DRF's views.
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than this server accepts."
    default_code = "payload_too_large"


class StrictJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        encoding = get_encoding(parser_context or {})
        # DRF reads the request's stream, past Django's DATA_UPLOAD_MAX_MEMORY_SIZE check (which
        # guards request.body only): read no more than that, with or without a Content-Length.
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raw = stream.read(limit + 1) if limit is not None else stream.read()
        if limit is not None and len(raw) > limit:
            raise PayloadTooLarge()
        try:
            data = json.loads(codecs.decode(raw, encoding), parse_constant=strict_constant)
        except RecursionError:
            raise ParseError("The JSON body is nested too deeply.") from None
        except UnicodeDecodeError:
            raise ParseError(f"The body is not valid {encoding} text.") from None
        except ValueError as refused:
            raise ParseError(f"The body is not valid JSON: {shown(refused, 200)}") from None
        # Control characters are data in JSON (a ticket's body may hold a form feed); fields
        # that are names or labels refuse them in their own checks.
        problems = json_problems(data, controls=True)
        if problems:
            raise ValidationError(problems)
        return data
