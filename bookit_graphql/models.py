"""Every table (the domains', rate limits', trusted documents'), imported for a full metadata."""


def load_all() -> None:
    from bookit_graphql import documents as _documents  # noqa: F401
    from bookit_graphql import ratelimit as _ratelimit  # noqa: F401
    from bookit_graphql.bookings import models as _bookings  # noqa: F401
    from bookit_graphql.catalog import models as _catalog  # noqa: F401
    from bookit_graphql.integrations import models as _integrations  # noqa: F401
    from bookit_graphql.reviews import models as _reviews  # noqa: F401
    from bookit_graphql.users import models as _users  # noqa: F401
