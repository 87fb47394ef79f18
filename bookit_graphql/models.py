"""Every domain's tables, imported together so Base.metadata is complete."""


def load_all() -> None:
    from bookit_graphql.users import models as _users  # noqa: F401
