"""The SCIM protocol (RFC 7643/7644) as pure functions over JSON: no SQL, no HTTP.

Schemas and the attribute registry, the limits on one request, input normalisation, filters and PATCH paths, PATCH,
projection, listing and cursors, discovery documents and the error types.
"""

from . import errors, limits
from .discovery import all_schemas, resource_type_document, schema_document, service_provider_config
from .filter import Filter, PatchPath, element_matches, matches, parse_filter, parse_path
from .listing import Cursor, InvalidCursor, ListQuery, list_response, parse_list_query
from .patch import MemberChanges, PatchOutcome, apply_patch
from .projection import Projection, parse_projection
from .resource import etag, format_datetime, parse_etags, render
from .schema import Attribute, AttrRef, ResourceType, SchemaDef, group_type, resource_types, user_type
from .validate import MemberRef, Normalised, changed_attributes, check_immutable, normalise

__all__ = [
    "AttrRef",
    "Attribute",
    "Cursor",
    "Filter",
    "InvalidCursor",
    "ListQuery",
    "MemberChanges",
    "MemberRef",
    "Normalised",
    "PatchOutcome",
    "PatchPath",
    "Projection",
    "ResourceType",
    "SchemaDef",
    "all_schemas",
    "apply_patch",
    "changed_attributes",
    "check_immutable",
    "element_matches",
    "errors",
    "etag",
    "format_datetime",
    "limits",
    "group_type",
    "list_response",
    "matches",
    "normalise",
    "parse_etags",
    "parse_filter",
    "parse_list_query",
    "parse_path",
    "parse_projection",
    "render",
    "resource_type_document",
    "resource_types",
    "schema_document",
    "service_provider_config",
    "user_type",
]
