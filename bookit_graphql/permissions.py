"""Who may call a field, as schema directives: @authenticated, @requiresRole(role: ...)."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.extensions.field_extension import FieldExtension
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.schema_directive import Location
from strawberry.types import Info

from bookit_graphql.errors import Forbidden, Unauthenticated
from bookit_graphql.roles import Role as Role  # the GraphQL enum, marked here

# Marks the class itself, as the types modules mark the models' enums: roles.py knows no Strawberry.
strawberry.enum(Role)


@strawberry.schema_directive(
    name="authenticated",
    locations=[Location.FIELD_DEFINITION],
    description="The caller must present a valid access token.",
)
class AuthenticatedDirective:
    pass


@strawberry.schema_directive(
    name="requiresRole",
    locations=[Location.FIELD_DEFINITION],
    description="The caller must be authenticated and have this role.",
)
class RequiresRoleDirective:
    role: Role


class IsAuthenticated(BasePermission):
    message = Unauthenticated.message
    error_extensions = {"code": Unauthenticated.code}
    schema_directive = AuthenticatedDirective()

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        return info.context.user is not None


class IsAdmin(BasePermission):
    message = Forbidden.message
    error_extensions = {"code": Forbidden.code}
    schema_directive = RequiresRoleDirective(role=Role.ADMIN)

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        user = info.context.user
        if user is None:
            raise Unauthenticated()
        return bool(user.role == Role.ADMIN)


def authenticated() -> list[FieldExtension]:
    """Field extensions for `@authenticated`."""
    return [PermissionExtension(permissions=[IsAuthenticated()], use_directives=True)]


def admin_only() -> list[FieldExtension]:
    """Field extensions for `@requiresRole(role: ADMIN)`."""
    return [PermissionExtension(permissions=[IsAdmin()], use_directives=True)]
