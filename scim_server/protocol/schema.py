"""The attribute registry: what every attribute of every resource type is (RFC 7643 §2, §7).

Built once from scim2-models' schema definitions, then used everywhere an attribute's
characteristics matter: validating input, projecting output, filtering and patching. Names are
looked up case-insensitively (RFC 7643 §2.1) and always written back in the schema's spelling.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from scim2_models import EnterpriseUser, Group, User

from .errors import InvalidPath

__all__ = [
    "Attribute",
    "SchemaDef",
    "ResourceType",
    "AttrRef",
    "USER_SCHEMA",
    "GROUP_SCHEMA",
    "ENTERPRISE_USER_SCHEMA",
    "user_type",
    "group_type",
    "resource_types",
]

USER_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP_SCHEMA = "urn:ietf:params:scim:schemas:core:2.0:Group"
ENTERPRISE_USER_SCHEMA = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"


@dataclass(frozen=True, slots=True)
class Attribute:
    name: str
    type: str  # string boolean decimal integer dateTime reference binary complex
    multi_valued: bool = False
    required: bool = False
    case_exact: bool = False
    mutability: str = "readWrite"  # readOnly readWrite immutable writeOnly
    returned: str = "default"  # always never default request
    uniqueness: str = "none"
    description: str = ""
    canonical_values: tuple[str, ...] = ()
    reference_types: tuple[str, ...] = ()
    sub_attributes: Mapping[str, Attribute] = field(default_factory=dict)  # keyed by lower-case name

    def sub(self, name: str) -> Attribute | None:
        return self.sub_attributes.get(name.lower())

    @property
    def is_complex(self) -> bool:
        return self.type == "complex"

    def to_dict(self) -> dict[str, Any]:
        """The RFC 7643 §7 representation, for the /Schemas endpoint."""
        out: dict[str, Any] = {
            "name": self.name,
            "type": self.type,
            "multiValued": self.multi_valued,
            "description": self.description,
            "required": self.required,
            "caseExact": self.case_exact,
            "mutability": self.mutability,
            "returned": self.returned,
            "uniqueness": self.uniqueness,
        }
        if self.canonical_values:
            out["canonicalValues"] = list(self.canonical_values)
        if self.reference_types:
            out["referenceTypes"] = list(self.reference_types)
        if self.sub_attributes:
            out["subAttributes"] = [a.to_dict() for a in self.sub_attributes.values()]
        return out


@dataclass(frozen=True, slots=True)
class SchemaDef:
    id: str
    name: str
    description: str
    attributes: Mapping[str, Attribute]  # keyed by lower-case name

    def get(self, name: str) -> Attribute | None:
        return self.attributes.get(name.lower())

    def to_dict(self) -> dict[str, Any]:
        return {
            "schemas": ["urn:ietf:params:scim:schemas:core:2.0:Schema"],
            "id": self.id,
            "name": self.name,
            "description": self.description,
            "attributes": [a.to_dict() for a in self.attributes.values()],
        }


@dataclass(frozen=True, slots=True)
class AttrRef:
    """A resolved attribute path: ``[schema:]attr[.sub]`` (RFC 7644 §3.10).

    ``schema`` is the URN that owns the attribute; ``None`` for the common attributes
    (``id``, ``externalId``, ``meta``) that belong to no schema.
    """

    schema: str | None
    attribute: Attribute
    sub: Attribute | None = None

    @property
    def is_extension(self) -> bool:
        return self.schema is not None and self.schema not in (USER_SCHEMA, GROUP_SCHEMA)

    @property
    def target(self) -> Attribute:
        return self.sub or self.attribute

    @property
    def dotted(self) -> str:
        """``name.givenName``: the name used in audit metadata and error messages."""
        base = self.attribute.name if self.sub is None else f"{self.attribute.name}.{self.sub.name}"
        return f"{self.schema}:{base}" if self.is_extension else base


# Common attributes (RFC 7643 §3.1): part of every resource, described by no schema.
_META = Attribute(
    name="meta",
    type="complex",
    mutability="readOnly",
    returned="default",
    sub_attributes={
        a.name.lower(): a
        for a in (
            Attribute("resourceType", "string", mutability="readOnly", case_exact=True),
            Attribute("created", "dateTime", mutability="readOnly"),
            Attribute("lastModified", "dateTime", mutability="readOnly"),
            Attribute("location", "reference", mutability="readOnly", case_exact=True, reference_types=("uri",)),
            Attribute("version", "string", mutability="readOnly", case_exact=True),
        )
    },
)
COMMON_ATTRIBUTES: Mapping[str, Attribute] = {
    "id": Attribute("id", "string", case_exact=True, mutability="readOnly", returned="always", uniqueness="server"),
    "externalid": Attribute("externalId", "string", case_exact=True, mutability="readWrite"),
    "meta": _META,
}


@dataclass(frozen=True, slots=True)
class ResourceType:
    name: str
    endpoint: str
    description: str
    schema: SchemaDef
    extensions: tuple[tuple[SchemaDef, bool], ...] = ()  # (schema, required)

    @property
    def schema_ids(self) -> tuple[str, ...]:
        return (self.schema.id, *(s.id for s, _ in self.extensions))

    def extension(self, urn: str) -> SchemaDef | None:
        low = urn.lower()
        for ext, _ in self.extensions:
            if ext.id.lower() == low:
                return ext
        return None

    def schemas(self) -> Iterator[SchemaDef]:
        yield self.schema
        for ext, _ in self.extensions:
            yield ext

    def top_level(self, name: str) -> tuple[str | None, Attribute] | None:
        """A top-level attribute of the core schema or a common attribute, by name."""
        low = name.lower()
        if low in COMMON_ATTRIBUTES:
            return None, COMMON_ATTRIBUTES[low]
        attr = self.schema.get(low)
        return (self.schema.id, attr) if attr is not None else None

    def resolve(self, path: str) -> AttrRef:
        """Resolve ``[urn:]attr[.sub]``; raise :class:`InvalidPath` for anything not in the schema."""
        schema_id, rest = self._split_urn(path)
        if not rest:
            raise InvalidPath(f"'{path}' names a schema, not an attribute.")
        head, _, sub_name = rest.partition(".")
        if schema_id is None or schema_id == self.schema.id:
            found = self.top_level(head)
            if found is None:
                raise InvalidPath(f"'{path}' is not an attribute of {self.name}.")
            owner, attr = found
        else:
            ext = self.extension(schema_id)
            assert ext is not None
            got = ext.get(head)
            if got is None:
                raise InvalidPath(f"'{path}' is not an attribute of {ext.id}.")
            owner, attr = ext.id, got
        sub = None
        if sub_name:
            sub = attr.sub(sub_name) if attr.is_complex else None
            if sub is None or "." in sub_name:
                raise InvalidPath(f"'{path}' is not an attribute of {self.name}.")
        return AttrRef(owner, attr, sub)

    def _split_urn(self, path: str) -> tuple[str | None, str]:
        """Split a leading schema URN (core or extension) from an attribute path."""
        if not path.lower().startswith("urn:"):
            return None, path
        low = path.lower()
        for schema in self.schemas():
            sid = schema.id.lower()
            if low == sid:
                return schema.id, ""
            if low.startswith(sid + ":"):
                return schema.id, path[len(sid) + 1 :]
        raise InvalidPath(f"'{path}' names a schema this resource type does not have.")


def _attribute(d: Mapping[str, Any], overrides: Mapping[str, Mapping[str, Any]], prefix: str = "") -> Attribute:
    name = d["name"]
    key = f"{prefix}{name}"
    subs = {s["name"].lower(): _attribute(s, overrides, f"{key}.") for s in d.get("subAttributes", ())}
    values: dict[str, Any] = {
        "name": name,
        "type": d["type"],
        "multi_valued": bool(d.get("multiValued", False)),
        "required": bool(d.get("required", False)),
        "case_exact": bool(d.get("caseExact", False)),
        "mutability": d.get("mutability", "readWrite"),
        "returned": d.get("returned", "default"),
        "uniqueness": d.get("uniqueness", "none"),
        "description": d.get("description", "") or "",
        "canonical_values": tuple(d.get("canonicalValues", ()) or ()),
        "reference_types": tuple(d.get("referenceTypes", ()) or ()),
        "sub_attributes": subs,
    }
    values.update(overrides.get(key, {}))
    return Attribute(**values)


def _schema(model: Any, overrides: Mapping[str, Mapping[str, Any]]) -> SchemaDef:
    dumped = model.to_schema().model_dump(mode="json", exclude_none=True)
    attrs = {a["name"].lower(): _attribute(a, overrides) for a in dumped["attributes"]}
    return SchemaDef(dumped["id"], dumped.get("name", ""), dumped.get("description", "") or "", attrs)


# Where our behaviour is stricter or looser than the library's defaults, and says so in /Schemas.
_USER_OVERRIDES: Mapping[str, Mapping[str, Any]] = {
    "userName": {"required": True, "uniqueness": "server"},
    # Entra sends members without $ref and types in any case; we accept and fill them.
}
_GROUP_OVERRIDES: Mapping[str, Mapping[str, Any]] = {
    "displayName": {"required": True, "uniqueness": "server"},
    "members.value": {"required": True},
}
_ENTERPRISE_OVERRIDES: Mapping[str, Mapping[str, Any]] = {
    # Entra sets the manager by bare id; $ref is derived, never required from the client.
    "manager.value": {"required": False},
    "manager.$ref": {"required": False},
    "manager.displayName": {"mutability": "readOnly"},
}


@cache
def user_type() -> ResourceType:
    return ResourceType(
        name="User",
        endpoint="/Users",
        description="User Account",
        schema=_schema(User, _USER_OVERRIDES),
        extensions=((_schema(EnterpriseUser, _ENTERPRISE_OVERRIDES), False),),
    )


@cache
def group_type() -> ResourceType:
    return ResourceType(
        name="Group",
        endpoint="/Groups",
        description="Group",
        schema=_schema(Group, _GROUP_OVERRIDES),
    )


def resource_types() -> tuple[ResourceType, ...]:
    return (user_type(), group_type())
