"""Validates an OpenAPI document (JSON on stdin) with openapi-spec-validator, against the schema
of the version it declares (3.1 here); prints "valid" or exits non-zero with the reason."""

import json
import sys

from openapi_spec_validator import validate

spec = json.load(sys.stdin)
validate(spec)
print("valid", spec["openapi"])
