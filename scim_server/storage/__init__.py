"""Storage: tables, the engine and its SQLite driver, repositories, filter → SQL, migrations."""

from .engine import Database, create_engine
from .filter_sql import filter_clause, sort_expression
from .migrations import upgrade
from .organizations import OrganizationRepository
from .resources import GROUPS, USERS, Kind, MembershipRepository, ResourceRepository, Stored
from .tables import GroupMember, Organization, ScimGroup, ScimToken, ScimUser, metadata

__all__ = [
    "GROUPS",
    "USERS",
    "Database",
    "GroupMember",
    "Kind",
    "MembershipRepository",
    "Organization",
    "OrganizationRepository",
    "ResourceRepository",
    "ScimGroup",
    "ScimToken",
    "ScimUser",
    "Stored",
    "create_engine",
    "filter_clause",
    "metadata",
    "sort_expression",
    "upgrade",
]
